//! Small versioned JSON files in the config dir (`{"version": 1, "data": …}`), replaced
//! atomically like the settings file. A missing or unreadable file reads as the default, so
//! a hand-edited file never blocks start-up.

use crate::error::{AppError, AppResult};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Serialize, Deserialize)]
struct File<T> {
    version: u32,
    data: T,
}

pub fn load<T: DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<File<T>>(&bytes).ok())
        .map(|f| f.data)
        .unwrap_or_default()
}

pub fn save<T: Serialize>(path: &Path, version: u32, data: &T) -> AppResult<()> {
    let json = serde_json::to_vec_pretty(&File { version, data })
        .map_err(|e| AppError::internal(e.to_string()))?;
    crate::settings::write_atomic(path, &json)?;
    Ok(())
}
