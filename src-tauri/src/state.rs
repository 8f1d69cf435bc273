//! The app's state, managed by Tauri (`app.manage(AppState::open(..))`): the history
//! database, settings, the engine host, running turns, downloads, the secret store and the
//! local API server. Cheap to clone, so blocking workers can take their own handle.

use crate::db::Db;
use crate::downloads::Downloads;
use crate::engine_host::EngineHost;
use crate::error::AppResult;
use crate::paths::AppPaths;
use crate::providers::store::ProviderStore;
use crate::secrets::{Keychain, SecretStore};
use crate::server_host::ServerHost;
use crate::settings;
use crate::turns::Turns;
use crate::types::Settings;
use std::ops::Deref;
use std::sync::{Arc, RwLock};
use woolly_hub::ModelStore;

pub struct Inner {
    pub paths: AppPaths,
    pub db: Db,
    settings: RwLock<Settings>,
    pub engine: EngineHost,
    pub turns: Turns,
    pub downloads: Downloads,
    /// API keys (the OS keychain; in-memory in tests).
    pub secrets: Arc<dyn SecretStore>,
    pub server: ServerHost,
    /// Remote providers (names and URLs; their keys are in `secrets`).
    pub providers: ProviderStore,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// With secrets in the OS keychain.
    pub fn open(paths: AppPaths) -> AppResult<Self> {
        Self::open_with(paths, Arc::new(Keychain))
    }

    pub fn open_with(paths: AppPaths, secrets: Arc<dyn SecretStore>) -> AppResult<Self> {
        std::fs::create_dir_all(&paths.data_dir)?;
        let db = Db::open(&paths.database())?;
        let settings = settings::load(&paths.settings_file());
        let providers = ProviderStore::new(paths.providers_file());
        let downloads = Downloads::default();
        downloads.restore(&db);
        Ok(Self(Arc::new(Inner {
            paths,
            db,
            settings: RwLock::new(settings),
            engine: EngineHost::default(),
            turns: Turns::default(),
            downloads,
            secrets,
            server: ServerHost::default(),
            providers,
        })))
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_settings(&self, s: Settings) -> AppResult<Settings> {
        settings::validate(&s)?;
        // Hold the lock across the write so two saves cannot interleave.
        let mut slot = self.settings.write().unwrap_or_else(|p| p.into_inner());
        settings::save(&self.paths.settings_file(), &s)?;
        *slot = s.clone();
        Ok(s)
    }

    /// The model store (created on first use).
    pub fn store(&self) -> AppResult<ModelStore> {
        Ok(ModelStore::open(self.paths.model_store())?)
    }
}
