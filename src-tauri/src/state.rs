//! The app's state, managed by Tauri (`app.manage(AppState::open(..))`): the history
//! database, settings, the engine host, running turns and downloads. Cheap to clone, so
//! blocking workers can take their own handle.

use crate::db::Db;
use crate::downloads::Downloads;
use crate::engine_host::EngineHost;
use crate::error::AppResult;
use crate::paths::AppPaths;
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
    pub fn open(paths: AppPaths) -> AppResult<Self> {
        std::fs::create_dir_all(&paths.data_dir)?;
        let db = Db::open(&paths.database())?;
        let settings = settings::load(&paths.settings_file());
        let downloads = Downloads::default();
        downloads.restore(&db);
        Ok(Self(Arc::new(Inner {
            paths,
            db,
            settings: RwLock::new(settings),
            engine: EngineHost::default(),
            turns: Turns::default(),
            downloads,
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
