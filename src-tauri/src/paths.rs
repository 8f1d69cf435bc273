//! Where the app keeps its files. `WOOLLY_DATA_DIR` / `WOOLLY_CONFIG_DIR` override the OS
//! directories (tests, portable set-ups); `WOOLLY_MODEL` names a model file to use when no
//! model is chosen. Nothing falls back to the build machine or the working directory.

use crate::error::{AppError, AppResult};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AppPaths {
    /// History database and the model store (`models/`).
    pub data_dir: PathBuf,
    /// `settings.json`, `server.json`, `providers.json`.
    pub config_dir: PathBuf,
    /// A model file given at launch (`WOOLLY_MODEL`): used when no model is chosen, before
    /// the first installed one. `make run` passes the repository's test model this way.
    pub launch_model: Option<PathBuf>,
}

impl AppPaths {
    /// From the environment, else `<OS data dir>/woolly` and `<OS config dir>/woolly`; an
    /// error where the OS has no such directory (no home) and no override is set.
    pub fn from_env() -> AppResult<Self> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let pick = |name: &str, os: Option<PathBuf>| {
            var(name)
                .map(PathBuf::from)
                .or_else(|| os.map(|d| d.join("woolly")))
                .ok_or_else(|| {
                    AppError::new(
                        crate::error::ErrorCode::Io,
                        format!(
                            "this system has no per-user directory for Woolly's files; set {name}"
                        ),
                    )
                })
        };
        Ok(Self {
            data_dir: pick("WOOLLY_DATA_DIR", dirs::data_dir())?,
            config_dir: pick("WOOLLY_CONFIG_DIR", dirs::config_dir())?,
            launch_model: var("WOOLLY_MODEL").map(|p| {
                let p = PathBuf::from(p);
                p.canonicalize().unwrap_or(p)
            }),
        })
    }

    /// Both under one directory (tests).
    pub fn under(root: &Path) -> Self {
        Self {
            data_dir: root.join("data"),
            config_dir: root.join("config"),
            launch_model: None,
        }
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("woolly.db")
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.json")
    }

    /// The local API server's port (`server.json`; its key is in the keychain).
    pub fn server_file(&self) -> PathBuf {
        self.config_dir.join("server.json")
    }

    /// Remote providers: names and base URLs (`providers.json`; keys are in the keychain).
    pub fn providers_file(&self) -> PathBuf {
        self.config_dir.join("providers.json")
    }

    /// When updates were last looked for (`updates.json`).
    pub fn updates_file(&self) -> PathBuf {
        self.config_dir.join("updates.json")
    }

    /// The last signed catalog fetched (woolly-hub's `CatalogCache`).
    pub fn catalog_cache(&self) -> PathBuf {
        self.data_dir.join("catalog.signed.json")
    }

    /// The hub's model store: the same place `woolly pull` uses unless the data dir is
    /// overridden.
    pub fn model_store(&self) -> PathBuf {
        self.data_dir.join("models")
    }
}
