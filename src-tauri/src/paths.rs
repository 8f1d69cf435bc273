//! Where the app keeps its files. `WOOLLY_DATA_DIR` / `WOOLLY_CONFIG_DIR` override the OS
//! directories (tests, portable set-ups).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct AppPaths {
    /// History database and the model store (`models/`).
    pub data_dir: PathBuf,
    /// `settings.json`, `server.json`, `providers.json`.
    pub config_dir: PathBuf,
}

impl AppPaths {
    /// From the environment, else `<OS data dir>/woolly` and `<OS config dir>/woolly`.
    pub fn from_env() -> Self {
        let pick = |var: &str, os: Option<PathBuf>| {
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| os.map(|d| d.join("woolly")))
                .unwrap_or_else(|| PathBuf::from(".woolly"))
        };
        Self {
            data_dir: pick("WOOLLY_DATA_DIR", dirs::data_dir()),
            config_dir: pick("WOOLLY_CONFIG_DIR", dirs::config_dir()),
        }
    }

    /// Both under one directory (tests).
    pub fn under(root: &Path) -> Self {
        Self {
            data_dir: root.join("data"),
            config_dir: root.join("config"),
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

    /// The hub's model store: the same place `woolly pull` uses unless the data dir is
    /// overridden.
    pub fn model_store(&self) -> PathBuf {
        self.data_dir.join("models")
    }
}
