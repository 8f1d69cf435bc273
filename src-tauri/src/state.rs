//! The app's state, managed by Tauri (`app.manage(AppState::open(..))`): the history
//! database, settings, the engine host, running turns, downloads, the secret store and the
//! local API server. Cheap to clone, so blocking workers can take their own handle.

use crate::attachments::Pending;
use crate::catalogs::CatalogHost;
use crate::db::Db;
use crate::downloads::Downloads;
use crate::engine_host::EngineHost;
use crate::error::AppResult;
use crate::paths::AppPaths;
use crate::providers::store::ProviderStore;
use crate::recovery::Notices;
use crate::secrets::{Keychain, SecretStore};
use crate::server_host::ServerHost;
use crate::settings;
use crate::turns::Turns;
use crate::types::Settings;
use crate::updates::UpdateHost;
use std::collections::HashSet;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
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
    /// Files the user chose in the open-file dialog during this run.
    pub picked: PickedFiles,
    /// The model catalog in use (built in, or refreshed and signed).
    pub catalogs: CatalogHost,
    /// An app update found and downloaded, until it is installed.
    pub updates: UpdateHost,
    /// What start-up recovered from (a broken database or settings file), for the UI.
    pub notices: Notices,
    /// Files attached in the composer and not sent yet.
    pub attachments: Pending,
}

/// The files the user chose in the native open-file dialog during this run: the only
/// paths `import_model` accepts, so the WebView cannot make the app read a file the user
/// did not choose. Kept as canonical paths.
#[derive(Default)]
pub struct PickedFiles(Mutex<HashSet<PathBuf>>);

impl PickedFiles {
    /// Records a file the dialog returned.
    pub fn record(&self, path: &Path) {
        let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.lock().insert(path);
    }

    /// Whether `canonical` (a canonical path) was picked.
    pub fn contains(&self, canonical: &Path) -> bool {
        self.lock().contains(canonical)
    }

    /// Forgets a pick once it was used.
    pub fn forget(&self, canonical: &Path) {
        self.lock().remove(canonical);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
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
        let notices = Notices::default();
        let (db, db_notice) = Db::open_recovering(&paths.database())?;
        let (settings, settings_notice) = settings::load_recovering(&paths.settings_file());
        db_notice
            .into_iter()
            .chain(settings_notice)
            .for_each(|n| notices.push(n));
        let providers = ProviderStore::new(paths.providers_file());
        let downloads = Downloads::default();
        downloads.restore(&db);
        let catalogs = CatalogHost::new(paths.catalog_cache());
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
            picked: PickedFiles::default(),
            catalogs,
            updates: UpdateHost::default(),
            notices,
            attachments: Pending::default(),
        })))
    }

    /// Checks every 20 s whether the model has been idle for the settings' minutes and
    /// unloads it then; the thread ends with the state.
    pub fn watch_idle_model(&self) {
        let weak = Arc::downgrade(&self.0);
        let _ = std::thread::Builder::new()
            .name("idle-unload".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(20));
                let Some(inner) = weak.upgrade() else { return };
                let state = AppState(inner);
                if let Some(minutes) = state.settings().unload_after_minutes {
                    let idle = std::time::Duration::from_secs(u64::from(minutes) * 60);
                    state.engine.unload_if_idle(idle);
                }
            });
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
