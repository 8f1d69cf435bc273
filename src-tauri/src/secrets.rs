//! API keys the app keeps: the local server's key and each remote provider's key. They live
//! in the OS keychain (`keyring`: Secret Service, Keychain, Credential Manager), never in the
//! settings file or SQLite. Behind a trait so command tests run without a Secret Service.

use crate::error::{AppError, ErrorCode};
use std::collections::HashMap;
use std::sync::Mutex;

/// Keychain service every Woolly secret is stored under (the Hugging Face token too).
pub const KEYRING_SERVICE: &str = "woolly";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("The key must be 1 to 4096 characters, without spaces.")]
    Invalid,
    #[error("The system keychain is not available: {0}")]
    Keychain(String),
}

impl From<SecretError> for AppError {
    fn from(e: SecretError) -> Self {
        let code = match e {
            SecretError::Invalid => ErrorCode::InvalidArgument,
            SecretError::Keychain(_) => ErrorCode::Keychain,
        };
        AppError::new(code, e.to_string())
    }
}

/// Named secrets. Calls may block (D-Bus): use them from blocking workers.
pub trait SecretStore: Send + Sync {
    /// `Ok(None)` when nothing is stored under `name`.
    fn get(&self, name: &str) -> Result<Option<String>, SecretError>;
    fn set(&self, name: &str, value: &str) -> Result<(), SecretError>;
    /// Removing what is not there is not an error.
    fn delete(&self, name: &str) -> Result<(), SecretError>;
}

/// Longest key accepted (real API keys are far shorter; HTTP servers refuse headers of a
/// few KiB).
pub const MAX_SECRET: usize = 4096;

/// Trims a key and rejects what no HTTP header could carry.
pub fn normalize(value: &str) -> Result<&str, SecretError> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > MAX_SECRET
        || value.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(SecretError::Invalid);
    }
    Ok(value)
}

/// The OS keychain.
pub struct Keychain;

impl Keychain {
    fn entry(name: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(KEYRING_SERVICE, name).map_err(|e| SecretError::Keychain(e.to_string()))
    }
}

impl SecretStore for Keychain {
    fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        match Self::entry(name)?.get_password() {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Ok(Some(v)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(SecretError::Keychain(e.to_string())),
        }
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        let value = normalize(value)?;
        Self::entry(name)?
            .set_password(value)
            .map_err(|e| SecretError::Keychain(e.to_string()))
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        match Self::entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(SecretError::Keychain(e.to_string())),
        }
    }
}

/// In-process secrets for tests (and machines where the keychain is off limits).
#[derive(Default)]
pub struct MemorySecrets(Mutex<HashMap<String, String>>);

impl MemorySecrets {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SecretStore for MemorySecrets {
    fn get(&self, name: &str) -> Result<Option<String>, SecretError> {
        Ok(self.map().get(name).cloned())
    }

    fn set(&self, name: &str, value: &str) -> Result<(), SecretError> {
        let value = normalize(value)?;
        self.map().insert(name.to_string(), value.to_string());
        Ok(())
    }

    fn delete(&self, name: &str) -> Result<(), SecretError> {
        self.map().remove(name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_store_round_trip_and_validation() {
        let s = MemorySecrets::default();
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", "  sk-123\n").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some("sk-123"));
        assert!(matches!(s.set("a", "has space"), Err(SecretError::Invalid)));
        assert!(matches!(s.set("a", "   "), Err(SecretError::Invalid)));
        assert_eq!(s.get("a").unwrap().as_deref(), Some("sk-123"));
        s.delete("a").unwrap();
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap(), None);
    }
}
