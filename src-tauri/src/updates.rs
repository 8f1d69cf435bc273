//! App updates through the Tauri updater plugin (endpoint and public key in tauri.conf.json,
//! `plugins.updater`): check on request or weekly when the user opted in, download and
//! verify the signed package, install it and restart. The plugin verifies the package
//! against the public key; nothing unsigned or signed by another key is installed.

use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::AppState;
use crate::types::{UpdateEvent, UpdateInfo, UpdateStatus};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::{Error as UpdaterError, Update, UpdaterExt};

/// `updates.json`'s format version.
const FILE_VERSION: u32 = 1;
const WEEK_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckFile {
    last_checked_at: Option<i64>,
}

#[derive(Default)]
struct Slot {
    /// The update the last check found.
    offered: Option<Update>,
    /// Its package, downloaded and verified.
    package: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct UpdateHost {
    slot: Mutex<Slot>,
}

impl UpdateHost {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn info(u: &Update) -> UpdateInfo {
    UpdateInfo {
        version: u.version.clone(),
        notes: u.body.clone().unwrap_or_default(),
        date: u
            .date
            .map(|d| (d.unix_timestamp_nanos() / 1_000_000).clamp(0, i64::MAX as i128) as i64),
    }
}

pub fn status<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> UpdateStatus {
    let file: CheckFile = crate::jsonfile::load(&state.paths.updates_file());
    let slot = state.updates.lock();
    UpdateStatus {
        current_version: app.package_info().version.to_string(),
        last_checked_at: file.last_checked_at,
        available: slot.offered.as_ref().map(info),
        downloaded: slot.package.is_some(),
        catalog: state.catalogs.info(),
    }
}

/// What an updater error means to the user. A signature failure says so plainly.
fn describe(e: UpdaterError, version: Option<&str>) -> AppError {
    use UpdaterError as E;
    let to = version.map(|v| format!(" to {v}")).unwrap_or_default();
    match e {
        E::Minisign(_)
        | E::Base64(_)
        | E::SignatureUtf8(_)
        | E::SignedVersionMismatch { .. }
        | E::MissingSignedVersion => {
            AppError::new(
                ErrorCode::BadResponse,
                format!("The update{to} was refused: its signature does not match Woolly's update key, so the package or the update manifest was changed. Nothing was installed. ({e})"),
            )
        }
        E::Reqwest(_) | E::Network(_) | E::ReleaseNotFound => AppError::new(
            ErrorCode::Unreachable,
            format!("Could not reach the update server: {e}"),
        ),
        E::EmptyEndpoints | E::InsecureTransportProtocol => AppError::new(
            ErrorCode::Unreachable,
            format!("This build has no usable update server: {e}"),
        ),
        E::Serialization(_) | E::TargetNotFound(_) | E::TargetsNotFound(_) | E::Semver(_) => {
            AppError::new(
                ErrorCode::BadResponse,
                format!("The update server answered an unusable update manifest: {e}"),
            )
        }
        e => AppError::new(ErrorCode::Io, format!("The update failed: {e}")),
    }
}

/// Asks the update server; remembers what it offers (dropping any earlier download).
pub async fn check<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> AppResult<UpdateStatus> {
    let updater = app
        .updater_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| describe(e, None))?;
    let offered = updater.check().await.map_err(|e| describe(e, None))?;
    {
        let mut slot = state.updates.lock();
        slot.package = None;
        slot.offered = offered;
    }
    crate::jsonfile::save(
        &state.paths.updates_file(),
        FILE_VERSION,
        &CheckFile {
            last_checked_at: Some(crate::db::now_ms()),
        },
    )?;
    Ok(status(app, state))
}

/// Downloads the offered package and verifies its signature; only a verified package is kept.
pub async fn download(state: &AppState, progress: impl Fn(UpdateEvent)) -> AppResult<()> {
    let update =
        state.updates.lock().offered.clone().ok_or_else(|| {
            AppError::not_found("No update to download: check for updates first.")
        })?;
    let mut downloaded = 0u64;
    let bytes = update
        .download(
            |chunk, total| {
                downloaded += chunk as u64;
                progress(UpdateEvent::Progress { downloaded, total });
            },
            || {},
        )
        .await
        .map_err(|e| describe(e, Some(&update.version)))?;
    progress(UpdateEvent::Verified);
    let mut slot = state.updates.lock();
    // Keep it only if no newer check replaced the offer meanwhile.
    if slot.offered.as_ref().map(|u| &u.version) == Some(&update.version) {
        slot.package = Some(bytes);
    }
    Ok(())
}

/// Installs the verified package (the plugin verifies it once more) and restarts the app.
pub fn install_and_restart<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> AppResult<()> {
    let (update, package) = {
        let mut slot = state.updates.lock();
        match (slot.offered.clone(), slot.package.take()) {
            (Some(u), Some(p)) => (u, p),
            _ => {
                return Err(AppError::not_found(
                    "No verified update is ready: download it first.",
                ))
            }
        }
    };
    update
        .install(&package)
        .map_err(|e| describe(e, Some(&update.version)))?;
    crate::finish_turns(state, Duration::from_secs(3));
    app.restart()
}

/// The weekly check when the user opted in: the app and the model catalog, at most once a
/// week (a failed attempt is retried an hour later).
pub fn spawn_weekly<R: Runtime>(app: AppHandle<R>, state: AppState) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        loop {
            let file: CheckFile = crate::jsonfile::load(&state.paths.updates_file());
            let due = file
                .last_checked_at
                .is_none_or(|t| crate::db::now_ms() - t >= WEEK_MS);
            if state.settings().check_updates_weekly && due {
                let _ = state.catalogs.refresh().await;
                if let Err(e) = check(&app, &state).await {
                    eprintln!("woolly-desktop: weekly update check: {}", e.message);
                }
            }
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
    });
}
