//! Running generations off the async runtime, one at a time, in arrival order.
//!
//! A request first joins the queue (a FIFO [`Semaphore`] with one permit: tokio's semaphore
//! is fair, so nobody starves), then runs `Engine::generate` on a blocking worker. The permit
//! moves into the worker and is released only when the engine is done, so the next request
//! never piles up behind the engine's own lock. A request that goes away (client disconnect,
//! timeout) flips its [`CancelToken`]: while queued it simply leaves the queue; while
//! generating the engine stops within one token.

use crate::error::ApiError;
use crate::AppState;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::sync::OwnedSemaphorePermit;
use woolly_core::engine::{
    CancelToken, Engine, EngineError, GenerateRequest, Generation, TokenEvent,
};

/// What a streaming generation sends to its consumer.
#[derive(Debug)]
pub enum StreamEvent {
    /// Newly completed text (may be empty), with the token's log-probability when asked for.
    Token(TokenEvent),
    /// The end: the whole generation, or why it failed.
    Done(Result<Generation, ApiError>),
}

/// A place in the queue (or on the engine); counted for the `max_pending` limit.
pub struct Ticket {
    state: AppState,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.state.inner.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Cancels a generation when dropped, unless disarmed: the owner went away.
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            token.cancel();
        }
    }
}

impl AppState {
    /// Joins the queue, or refuses when `max_pending` requests are already waiting.
    pub fn ticket(&self) -> Result<Ticket, ApiError> {
        let limit = self.inner.config.max_pending;
        let before = self.inner.pending.fetch_add(1, Ordering::SeqCst);
        let ticket = Ticket {
            state: self.clone(),
        };
        if limit > 0 && before >= limit {
            return Err(ApiError::Busy(before));
        }
        Ok(ticket)
    }

    async fn turn(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        self.inner
            .queue
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::Internal("the queue is closed".into()))
    }
}

fn joined(
    result: Result<Result<Generation, EngineError>, tokio::task::JoinError>,
) -> Result<Generation, ApiError> {
    match result {
        Ok(Ok(generation)) => Ok(generation),
        Ok(Err(e)) => Err(ApiError::Engine(e)),
        Err(e) => Err(ApiError::Internal(format!("generation worker failed: {e}"))),
    }
}

/// Runs other engine work (embeddings) in the same queue as generations, on a worker.
pub async fn exclusive<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Engine) -> Result<T, EngineError> + Send + 'static,
) -> Result<T, ApiError> {
    let ticket = state.ticket()?;
    let permit = state.turn().await?;
    let engine = state.inner.engine.clone();
    tokio::task::spawn_blocking(move || {
        let _held = (permit, ticket);
        work(&engine)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("engine worker failed: {e}")))?
    .map_err(ApiError::Engine)
}

/// Runs a generation to completion. Dropping the future (client gone, timeout) cancels it.
pub async fn generate(
    state: &AppState,
    ticket: Ticket,
    request: GenerateRequest,
) -> Result<Generation, ApiError> {
    let guard = CancelOnDrop(Some(request.cancel.clone()));
    let permit = state.turn().await?;
    let engine = state.inner.engine.clone();
    let result = tokio::task::spawn_blocking(move || {
        let _held = (permit, ticket);
        engine.generate(&request, |_| {})
    })
    .await;
    guard.disarm();
    joined(result)
}

/// Starts a generation whose tokens arrive on the returned channel. Dropping the receiver
/// cancels it (or takes it out of the queue).
pub fn stream(
    state: &AppState,
    ticket: Ticket,
    request: GenerateRequest,
) -> UnboundedReceiver<StreamEvent> {
    let (tx, rx) = unbounded_channel();
    let state = state.clone();
    tokio::spawn(async move {
        let permit = tokio::select! {
            permit = state.turn() => permit,
            _ = tx.closed() => return,
        };
        let permit = match permit {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(StreamEvent::Done(Err(e)));
                return;
            }
        };
        let engine = state.inner.engine.clone();
        let token_tx = tx.clone();
        let result = tokio::task::spawn_blocking(move || {
            let _held = (permit, ticket);
            let cancel = request.cancel.clone();
            engine.generate(&request, |t| {
                if token_tx.send(StreamEvent::Token(t.clone())).is_err() {
                    cancel.cancel();
                }
            })
        })
        .await;
        let _ = tx.send(StreamEvent::Done(joined(result)));
    });
    rx
}
