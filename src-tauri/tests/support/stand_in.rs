//! A stand-in web server on 127.0.0.1 (an update feed, the Hugging Face API): each path
//! answers what a test put there, replaceable while it runs; any other path is a 404.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A status and a body.
type Answer = (u16, Vec<u8>);

#[derive(Clone, Default)]
struct Routes(Arc<Mutex<HashMap<String, Answer>>>);

pub struct StandIn {
    routes: Routes,
    base: String,
    _rt: tokio::runtime::Runtime,
}

impl StandIn {
    pub fn start() -> Self {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let routes = Routes::default();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(routes.clone());
        rt.spawn(async move { axum::serve(listener, app).await });
        Self {
            routes,
            base,
            _rt: rt,
        }
    }

    pub fn put(&self, path: &str, code: u16, body: impl Into<Vec<u8>>) {
        let mut routes = self.routes.0.lock().unwrap();
        routes.insert(path.to_string(), (code, body.into()));
    }

    /// Every path a 404 from now on.
    pub fn clear(&self) {
        self.routes.0.lock().unwrap().clear();
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn serve(State(routes): State<Routes>, uri: Uri) -> Response {
    match routes.0.lock().unwrap().get(uri.path()) {
        Some((code, body)) => (StatusCode::from_u16(*code).unwrap(), body.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
