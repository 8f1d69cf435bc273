//! Remote providers: add, edit, remove, their keys (keychain) and their model lists. Chats go
//! through the usual chat commands once a conversation's model is a provider's.

use super::blocking;
use crate::error::{AppError, AppResult};
use crate::providers::store::ProviderConfig;
use crate::providers::{client, provider_key, secret_name};
use crate::secrets::normalize;
use crate::state::AppState;
use crate::types::{Provider, ProviderModel};
use tauri::State;

fn provider(p: ProviderConfig) -> Provider {
    Provider {
        id: p.id,
        name: p.name,
        base_url: p.base_url,
        has_api_key: p.has_api_key,
    }
}

/// A trimmed key, None for none; refuses what no HTTP header could carry.
fn clean_key(api_key: Option<String>) -> AppResult<Option<String>> {
    match api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        Some(k) => Ok(Some(normalize(k)?.to_string())),
        None => Ok(None),
    }
}

#[tauri::command]
pub async fn list_providers(state: State<'_, AppState>) -> AppResult<Vec<Provider>> {
    let state = state.inner().clone();
    blocking(move || Ok(state.providers.list().into_iter().map(provider).collect())).await
}

#[tauri::command]
pub async fn add_provider(
    state: State<'_, AppState>,
    name: String,
    base_url: String,
    api_key: Option<String>,
) -> AppResult<Provider> {
    let key = clean_key(api_key)?;
    let state = state.inner().clone();
    blocking(move || {
        let p = state.providers.add(&name, &base_url)?;
        let Some(key) = &key else {
            return Ok(provider(p));
        };
        // No provider without the key the user gave: undo the add if the keychain fails.
        let stored = state
            .secrets
            .set(&secret_name(&p.id), key)
            .map_err(AppError::from)
            .and_then(|()| state.providers.set_has_key(&p.id, true));
        match stored {
            Ok(p) => Ok(provider(p)),
            Err(e) => {
                let _ = state.providers.remove(&p.id);
                let _ = state.secrets.delete(&secret_name(&p.id));
                Err(e)
            }
        }
    })
    .await
}

/// Renames and re-points a provider. Moving it to another origin (scheme, host or port)
/// deletes its key: the key was given for the old server.
#[tauri::command]
pub async fn update_provider(
    state: State<'_, AppState>,
    provider_id: String,
    name: String,
    base_url: String,
) -> AppResult<Provider> {
    let state = state.inner().clone();
    blocking(move || {
        // Moved to another host: saved without its key first (never sent to the new host),
        // then the key is deleted; the user enters the new host's key.
        let (p, drop_key) = state.providers.update(&provider_id, &name, &base_url)?;
        if drop_key {
            state.secrets.delete(&secret_name(&p.id))?;
        }
        Ok(provider(p))
    })
    .await
}

/// Stores the provider's key in the keychain (None clears it).
#[tauri::command]
pub async fn set_provider_key(
    state: State<'_, AppState>,
    provider_id: String,
    api_key: Option<String>,
) -> AppResult<Provider> {
    let key = clean_key(api_key)?;
    let state = state.inner().clone();
    blocking(move || {
        let p = state.providers.get(&provider_id)?;
        let name = secret_name(&p.id);
        match &key {
            Some(k) => state.secrets.set(&name, k)?,
            None => state.secrets.delete(&name)?,
        }
        Ok(provider(state.providers.set_has_key(&p.id, key.is_some())?))
    })
    .await
}

/// Forgets the provider and deletes its key. Its conversations keep their messages; their
/// next turn asks for another model.
#[tauri::command]
pub async fn remove_provider(state: State<'_, AppState>, provider_id: String) -> AppResult<()> {
    let state = state.inner().clone();
    blocking(move || {
        let p = state.providers.get(&provider_id)?;
        state.providers.remove(&provider_id)?;
        if p.has_api_key {
            state.secrets.delete(&secret_name(&provider_id))?;
        }
        Ok(())
    })
    .await
}

/// The provider's models (`GET {base}/models`), with clear errors for an unreachable
/// endpoint (`unreachable`), a refused key (`unauthorized`) or a non-OpenAI answer
/// (`bad_response`).
#[tauri::command]
pub async fn provider_models(
    state: State<'_, AppState>,
    provider_id: String,
) -> AppResult<Vec<ProviderModel>> {
    let worker = state.inner().clone();
    let (provider, key) = blocking(move || {
        let p = worker.providers.get(&provider_id)?;
        let key = provider_key(&*worker.secrets, &p)?;
        Ok((p, key))
    })
    .await?;
    Ok(client::list_models(&provider.base_url, key.as_deref()).await?)
}
