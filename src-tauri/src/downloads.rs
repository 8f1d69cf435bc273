//! Model downloads run by woolly-hub on the async runtime, with their state (for
//! `list_downloads`), their control handle (pause / resume / cancel) and the channel their
//! events go to (replaced when the UI re-attaches). Records live in SQLite, so paused and
//! failed downloads are still listed after a restart.

use crate::db::{Db, DownloadRow};
use crate::error::{AppError, AppResult};
use crate::state::AppState;
use crate::types::{DownloadEvent, DownloadInfo, DownloadSource, DownloadStatus};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use woolly_hub::{
    auth, download, names, Catalog, DownloadControl, DownloadOptions, Downloader, HfApi, Sha256Hex,
};

pub type Sink = Arc<dyn Fn(DownloadEvent) + Send + Sync>;

struct Job {
    row: DownloadRow,
    info: DownloadInfo,
    /// Present while a task runs (also while it is paused inside the hub).
    control: Option<DownloadControl>,
    sink: Option<Sink>,
    /// The catalog entry, when the digest has to come from the Hub listing.
    catalog_id: Option<String>,
}

#[derive(Default, Clone)]
pub struct Downloads {
    jobs: Arc<Mutex<HashMap<String, Job>>>,
}

impl Downloads {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads the records of an earlier run: unfinished ones become paused at the size of
    /// their `.part` file.
    pub fn restore(&self, db: &Db) {
        let Ok(rows) = db.downloads() else { return };
        let mut jobs = self.lock();
        for mut row in rows {
            if matches!(
                row.status,
                DownloadStatus::Completed | DownloadStatus::Cancelled
            ) {
                let _ = db.delete_download(&row.id);
                continue;
            }
            if row.status != DownloadStatus::Failed {
                row.status = DownloadStatus::Paused;
            }
            let info = row.info();
            let catalog_id = row.catalog_id.clone();
            jobs.insert(
                row.id.clone(),
                Job {
                    row,
                    info,
                    control: None,
                    sink: None,
                    catalog_id,
                },
            );
        }
    }

    pub fn list(&self, state: &AppState) -> Vec<DownloadInfo> {
        let store_root = state.paths.model_store();
        let mut list: Vec<DownloadInfo> = self
            .lock()
            .values_mut()
            .map(|job| {
                if job.control.is_none() {
                    // Not running: report what is on disk.
                    let part = download::part_path(&store_root.join(&job.row.file_name));
                    job.info.downloaded_bytes = std::fs::metadata(part).map_or(0, |m| m.len());
                    job.info.bytes_per_second = 0.0;
                    job.info.eta_seconds = None;
                }
                job.info.clone()
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Starts a download; returns at once, events follow through `sink`.
    pub fn start(
        &self,
        state: &AppState,
        source: DownloadSource,
        sink: Sink,
    ) -> AppResult<DownloadInfo> {
        let (row, catalog_id) = match source {
            DownloadSource::Catalog { catalog_id } => {
                let catalog = state.catalogs.current()?;
                let entry = catalog.get(&catalog_id).ok_or_else(|| {
                    AppError::not_found(format!("Unknown catalog entry {catalog_id:?}."))
                })?;
                let row = DownloadRow {
                    id: crate::db::new_id(),
                    catalog_id: Some(entry.id.clone()),
                    name: entry.name.clone(),
                    file_name: entry.file.clone(),
                    url: entry.url.clone(),
                    sha256: entry
                        .sha256
                        .as_ref()
                        .map(|h| h.to_string())
                        .unwrap_or_default(),
                    status: DownloadStatus::Queued,
                    downloaded_bytes: 0,
                    total_bytes: entry.size_bytes,
                    error: None,
                };
                (row, Some(catalog_id))
            }
            DownloadSource::Url { url, sha256, name } => {
                let sha = Sha256Hex::parse(sha256.trim()).map_err(|_| {
                    AppError::invalid("A SHA-256 (64 hexadecimal digits) is required.")
                })?;
                let parsed_url = parse_url(&url)?;
                let file_name = names::name_from_url(&parsed_url)?;
                let row = DownloadRow {
                    id: crate::db::new_id(),
                    catalog_id: None,
                    name: name
                        .filter(|n| !n.trim().is_empty())
                        .unwrap_or_else(|| file_name.trim_end_matches(".gguf").to_string()),
                    file_name,
                    url,
                    sha256: sha.to_string(),
                    status: DownloadStatus::Queued,
                    downloaded_bytes: 0,
                    total_bytes: 0,
                    error: None,
                };
                (row, None)
            }
            // Resolved by the command first (the lookup is async): see `start_hub`.
            DownloadSource::Hub { .. } => {
                return Err(AppError::internal(
                    "A Hub download must be resolved before it starts.",
                ))
            }
        };
        self.enqueue(state, row, catalog_id, sink)
    }

    /// Starts the download of a Hub file whose SHA-256 and size came from the Hub's LFS
    /// metadata (`hub::resolve_hub_download`); then like a URL download with that hash.
    pub fn start_hub(
        &self,
        state: &AppState,
        file: crate::hub::HubDownload,
        sink: Sink,
    ) -> AppResult<DownloadInfo> {
        let row = DownloadRow {
            id: crate::db::new_id(),
            catalog_id: None,
            name: file.name,
            file_name: file.file_name,
            url: file.url,
            sha256: file.sha256.to_string(),
            status: DownloadStatus::Queued,
            downloaded_bytes: 0,
            total_bytes: file.size,
            error: None,
        };
        self.enqueue(state, row, None, sink)
    }

    fn enqueue(
        &self,
        state: &AppState,
        row: DownloadRow,
        catalog_id: Option<String>,
        sink: Sink,
    ) -> AppResult<DownloadInfo> {
        {
            let jobs = self.lock();
            if jobs.values().any(|j| j.row.file_name == row.file_name) {
                return Err(AppError::new(
                    crate::error::ErrorCode::Busy,
                    "This model is already being downloaded.",
                ));
            }
        }
        state.db.save_download(&row)?;
        let info = row.info();
        self.lock().insert(
            row.id.clone(),
            Job {
                row: row.clone(),
                info: info.clone(),
                control: None,
                sink: Some(sink),
                catalog_id,
            },
        );
        self.spawn(state, &row.id);
        Ok(info)
    }

    pub fn pause(&self, state: &AppState, id: &str) -> AppResult<()> {
        let mut jobs = self.lock();
        let job = jobs
            .get_mut(id)
            .ok_or_else(|| AppError::not_found("No such download."))?;
        match &job.control {
            Some(c) => c.pause(),
            None => {
                job.info.status = DownloadStatus::Paused;
                if let Some(sink) = &job.sink {
                    sink(DownloadEvent::Paused {
                        id: id.into(),
                        downloaded_bytes: job.info.downloaded_bytes,
                    });
                }
            }
        }
        job.info.status = DownloadStatus::Paused;
        job.info.bytes_per_second = 0.0;
        job.row.status = DownloadStatus::Paused;
        job.row.downloaded_bytes = job.info.downloaded_bytes;
        let _ = state.db.save_download(&job.row);
        Ok(())
    }

    /// Resumes a paused or failed download, or re-attaches `sink` to a running one.
    pub fn resume(&self, state: &AppState, id: &str, sink: Sink) -> AppResult<DownloadInfo> {
        let restart = {
            let mut jobs = self.lock();
            let job = jobs
                .get_mut(id)
                .ok_or_else(|| AppError::not_found("No such download."))?;
            job.sink = Some(sink);
            match &job.control {
                Some(c) => {
                    if job.info.status == DownloadStatus::Paused {
                        c.resume();
                        job.info.status = DownloadStatus::Downloading;
                    }
                    false
                }
                None => {
                    job.info.status = DownloadStatus::Queued;
                    job.info.error = None;
                    true
                }
            }
        };
        if restart {
            self.spawn(state, id);
        }
        self.lock()
            .get(id)
            .map(|j| j.info.clone())
            .ok_or_else(|| AppError::not_found("No such download."))
    }

    pub fn cancel(&self, state: &AppState, id: &str) -> AppResult<()> {
        let job = self
            .lock()
            .remove(id)
            .ok_or_else(|| AppError::not_found("No such download."))?;
        let _ = state.db.delete_download(id);
        match job.control {
            // The task deletes the `.part` and reports `cancelled`.
            Some(c) => {
                // Keep listening so the task can still report; it finds no job and stops.
                c.cancel();
                if let Some(sink) = job.sink {
                    sink(DownloadEvent::Cancelled { id: id.into() });
                }
            }
            None => {
                if let Ok(path) = state
                    .store()
                    .and_then(|s| Ok(s.model_path(&job.row.file_name)?))
                {
                    let _ = std::fs::remove_file(download::part_path(&path));
                }
                if let Some(sink) = job.sink {
                    sink(DownloadEvent::Cancelled { id: id.into() });
                }
            }
        }
        Ok(())
    }

    /// Runs the download of job `id` on the async runtime.
    fn spawn(&self, state: &AppState, id: &str) {
        let control = DownloadControl::new();
        let (row, catalog_id) = {
            let mut jobs = self.lock();
            let Some(job) = jobs.get_mut(id) else { return };
            job.control = Some(control.clone());
            job.info.status = DownloadStatus::Downloading;
            (job.row.clone(), job.catalog_id.clone())
        };
        let this = self.clone();
        let state = state.clone();
        tauri::async_runtime::spawn(async move {
            let result = this.run(&state, &row, catalog_id, &control).await;
            this.finish(&state, &row.id, result);
        });
    }

    async fn run(
        &self,
        state: &AppState,
        row: &DownloadRow,
        catalog_id: Option<String>,
        control: &DownloadControl,
    ) -> AppResult<woolly_hub::InstalledModel> {
        let store = state.store()?;
        let token = auth::load_token().ok().flatten();
        let downloader = Downloader::new(DownloadOptions {
            token_scope: crate::hub::token_scope(),
            ..DownloadOptions::default()
        })?
        .with_token(token);
        let sha = match (Sha256Hex::parse(&row.sha256), catalog_id) {
            (Ok(sha), _) => sha,
            (Err(_), Some(cid)) => {
                let catalog = state.catalogs.current()?;
                let entry = catalog
                    .get(&cid)
                    .ok_or_else(|| AppError::not_found("Unknown catalog entry."))?;
                entry
                    .expected_sha256(&downloader, &HfApi::default())
                    .await?
            }
            (Err(_), None) => return Err(AppError::invalid("A SHA-256 is required.")),
        };
        let id = row.id.clone();
        let this = self.clone();
        let total_hint = row.total_bytes;
        let mut on_event =
            move |e: woolly_hub::DownloadEvent| this.on_hub_event(&id, total_hint, e);
        let size_hint = (row.total_bytes > 0).then_some(row.total_bytes);
        Ok(store
            .download_as(
                &downloader,
                &row.file_name,
                &row.url,
                sha,
                size_hint,
                control,
                &mut on_event,
            )
            .await?)
    }

    fn on_hub_event(&self, id: &str, total_hint: u64, e: woolly_hub::DownloadEvent) {
        use woolly_hub::DownloadEvent as H;
        let mut jobs = self.lock();
        let Some(job) = jobs.get_mut(id) else { return };
        let info = &mut job.info;
        let event = match e {
            H::Started {
                total,
                resumed_from,
            } => {
                info.status = DownloadStatus::Downloading;
                info.total_bytes = total.unwrap_or(total_hint);
                info.downloaded_bytes = resumed_from;
                DownloadEvent::Started {
                    id: id.into(),
                    total_bytes: info.total_bytes,
                    resumed_from,
                }
            }
            H::Progress(p) => {
                info.downloaded_bytes = p.downloaded;
                if let Some(t) = p.total {
                    info.total_bytes = t;
                }
                info.bytes_per_second = p.bytes_per_sec;
                info.eta_seconds = p.eta_secs;
                if info.status != DownloadStatus::Paused {
                    info.status = DownloadStatus::Downloading;
                }
                progress(id, info)
            }
            H::Resumed => {
                info.status = DownloadStatus::Downloading;
                progress(id, info)
            }
            H::Retrying {
                attempt,
                delay_ms,
                reason,
            } => {
                info.status = DownloadStatus::Retrying;
                DownloadEvent::Retrying {
                    id: id.into(),
                    attempt,
                    delay_ms,
                    reason,
                }
            }
            H::Restarted { reason } => {
                info.downloaded_bytes = 0;
                DownloadEvent::Retrying {
                    id: id.into(),
                    attempt: 0,
                    delay_ms: 0,
                    reason,
                }
            }
            H::Paused { downloaded } => {
                info.status = DownloadStatus::Paused;
                info.downloaded_bytes = downloaded;
                info.bytes_per_second = 0.0;
                DownloadEvent::Paused {
                    id: id.into(),
                    downloaded_bytes: downloaded,
                }
            }
            H::Verifying => {
                info.status = DownloadStatus::Verifying;
                DownloadEvent::Verifying { id: id.into() }
            }
            // Reported once the store has registered the model (see `finish`).
            H::Finished { .. } => return,
        };
        if let Some(sink) = &job.sink {
            sink(event);
        }
    }

    fn finish(&self, state: &AppState, id: &str, result: AppResult<woolly_hub::InstalledModel>) {
        let mut jobs = self.lock();
        match result {
            Ok(model) => {
                let job = jobs.remove(id);
                drop(jobs);
                let _ = state.db.delete_download(id);
                if let Some(sink) = job.and_then(|j| j.sink) {
                    let catalog = state.catalogs.current().unwrap_or(Catalog {
                        version: 1,
                        notes: String::new(),
                        models: vec![],
                    });
                    let ctx = state.settings().default_params.context_length as u64;
                    let model =
                        crate::hub::installed(&model, &catalog, ctx, &crate::hub::system_memory());
                    sink(DownloadEvent::Finished {
                        id: id.into(),
                        model,
                    });
                }
            }
            Err(e) if e.code == crate::error::ErrorCode::Cancelled => {
                // `cancel` already removed the job and told the UI.
                if let Some(job) = jobs.remove(id) {
                    let _ = state.db.delete_download(id);
                    if let Some(sink) = job.sink {
                        sink(DownloadEvent::Cancelled { id: id.into() });
                    }
                }
            }
            Err(e) => {
                let Some(job) = jobs.get_mut(id) else { return };
                job.control = None;
                job.info.status = DownloadStatus::Failed;
                job.info.error = Some(e.message.clone());
                job.info.bytes_per_second = 0.0;
                job.row.status = DownloadStatus::Failed;
                job.row.error = Some(e.message.clone());
                job.row.downloaded_bytes = job.info.downloaded_bytes;
                job.row.total_bytes = job.info.total_bytes;
                let _ = state.db.save_download(&job.row);
                if let Some(sink) = &job.sink {
                    sink(DownloadEvent::Error {
                        id: id.into(),
                        message: e.message,
                        code: Some(e.code.as_str().into()),
                    });
                }
            }
        }
    }
}

fn progress(id: &str, info: &DownloadInfo) -> DownloadEvent {
    DownloadEvent::Progress {
        id: id.into(),
        downloaded_bytes: info.downloaded_bytes,
        total_bytes: info.total_bytes,
        bytes_per_second: info.bytes_per_second,
        eta_seconds: info.eta_seconds,
    }
}

fn parse_url(url: &str) -> AppResult<url::Url> {
    let parsed = url::Url::parse(url.trim())
        .map_err(|e| AppError::invalid(format!("Invalid URL {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(AppError::invalid(
            "Only http and https URLs can be downloaded.",
        ));
    }
    Ok(parsed)
}
