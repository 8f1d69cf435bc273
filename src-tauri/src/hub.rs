//! woolly-hub values in the UI's shapes: installed models, catalog entries, fit reports.

use crate::error::{AppError, AppResult};
use crate::types::{
    CatalogEntry, FitReport, FitVerdict, HubFile, HubModel, HubSplit, InstalledModel,
    ModelSourceKind, Storage,
};
use woolly_hub::hf::split_part;
use woolly_hub::{fit, Catalog, DownloadOptions, Downloader, HfApi, ModelSource, SystemMemory};

/// "135M", "1.5B", "7B".
pub fn human_parameters(n: u64) -> String {
    if n == 0 {
        return "?".into();
    }
    let (value, unit) = if n >= 1_000_000_000 {
        (n as f64 / 1e9, "B")
    } else {
        (n as f64 / 1e6, "M")
    };
    if value >= 10.0 || (value - value.round()).abs() < 0.05 {
        format!("{}{unit}", value.round() as u64)
    } else {
        format!("{value:.1}{unit}")
    }
}

fn gb(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 10.0 {
        format!("{gib:.0} GB")
    } else if gib >= 0.1 {
        format!("{gib:.1} GB")
    } else {
        format!("{:.0} MB", bytes as f64 / (1u64 << 20) as f64)
    }
}

pub fn fit_report(r: &woolly_hub::FitReport) -> FitReport {
    let place = match r.device {
        fit::Device::Cpu => "available",
        fit::Device::Gpu => "GPU memory",
    };
    FitReport {
        verdict: match r.fit {
            fit::Fit::Fits => FitVerdict::Fits,
            fit::Fit::Tight => FitVerdict::Tight,
            fit::Fit::TooBig => FitVerdict::TooBig,
        },
        required_bytes: r.needed,
        available_bytes: r.budget,
        context_length: r.estimate.context.min(u32::MAX as u64) as u32,
        detail: format!(
            "needs ~{} at {} context, {} {place}",
            gb(r.needed),
            r.estimate.context,
            gb(r.budget)
        ),
    }
}

/// Memory now; a conservative stand-in where the OS cannot tell. With a discrete GPU
/// whose memory is known, fits are judged against it (where `auto` loads models).
pub fn system_memory() -> SystemMemory {
    SystemMemory::detect()
        .unwrap_or(SystemMemory {
            total_ram: 0,
            available_ram: 0,
            gpu_memory: None,
        })
        .with_gpu_memory(discrete_gpu_memory())
}

/// A discrete GPU's own memory. Integrated and software adapters share the RAM, which the
/// fit already counts.
fn discrete_gpu_memory() -> Option<u64> {
    use woolly_core::model::gpu::{device, AdapterType};
    let gpu = device::shared().ok()?;
    match gpu.adapter.kind {
        AdapterType::Discrete => gpu.adapter.memory_bytes,
        _ => None,
    }
}

/// Fit for a file whose attention shape is unknown: weights plus 10%.
pub fn fit_by_size(size: u64, context: u64, memory: &SystemMemory) -> FitReport {
    let scratch = size / 10;
    let estimate = fit::MemoryEstimate {
        context,
        weights: size,
        kv_cache: 0,
        scratch,
        total: size + scratch,
    };
    fit_report(&fit::check(&estimate, memory))
}

/// What to call a model: its catalog name when the file is a catalog model, else the
/// GGUF's `general.name`, else the file name without `.gguf`.
pub fn display_name(m: &woolly_hub::InstalledModel) -> String {
    name_for(&m.name, m.meta.display_name.as_deref())
}

pub fn name_for(file_name: &str, gguf_name: Option<&str>) -> String {
    if let Some(entry) = Catalog::builtin()
        .ok()
        .and_then(|c| c.models.into_iter().find(|e| e.file == file_name))
    {
        return entry.name;
    }
    gguf_name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| file_name.trim_end_matches(".gguf").to_string())
}

pub fn installed(
    m: &woolly_hub::InstalledModel,
    catalog: &Catalog,
    context: u64,
    memory: &SystemMemory,
) -> InstalledModel {
    let from_catalog = |url: &str| {
        catalog
            .models
            .iter()
            .find(|e| e.url == url || e.file == m.name)
    };
    let (source, storage, catalog_id) = match &m.source {
        ModelSource::Download { url } => match from_catalog(url) {
            Some(e) => (ModelSourceKind::Catalog, Storage::Store, Some(e.id.clone())),
            None => (ModelSourceKind::Url, Storage::Store, None),
        },
        ModelSource::Copied { .. } => (ModelSourceKind::Import, Storage::Store, None),
        ModelSource::Referenced => (ModelSourceKind::Import, Storage::Reference, None),
    };
    let fit = match m.fit(context, memory) {
        Some(r) => fit_report(&r),
        None => fit_by_size(m.size_bytes, context, memory),
    };
    InstalledModel {
        id: m.name.clone(),
        name: display_name(m),
        path: m.path.to_string_lossy().into_owned(),
        architecture: m.meta.architecture.clone(),
        parameters: human_parameters(m.meta.parameters),
        quantization: m.meta.quantization.clone(),
        context_length: m.meta.context_length.unwrap_or(0).min(u32::MAX as u64) as u32,
        size_bytes: m.size_bytes,
        sha256: m.sha256.to_string(),
        source,
        storage,
        catalog_id,
        added_at: (m.added_unix as i64).saturating_mul(1000),
        fit,
    }
}

pub fn catalog_entry(
    e: &woolly_hub::CatalogEntry,
    context: u64,
    memory: &SystemMemory,
    installed: &[woolly_hub::InstalledModel],
) -> CatalogEntry {
    let installed_id = installed
        .iter()
        .find(|m| {
            m.name == e.file || matches!(&m.source, ModelSource::Download { url } if *url == e.url)
        })
        .map(|m| m.name.clone());
    CatalogEntry {
        id: e.id.clone(),
        name: e.name.clone(),
        family: e.family.clone(),
        parameters: human_parameters(e.parameters),
        quantization: e.quantization.clone(),
        size_bytes: e.size_bytes,
        context_length: e.context_length.min(u32::MAX as u64) as u32,
        license: e.license.clone(),
        url: e.url.clone(),
        sha256: e.sha256.as_ref().map(|h| h.to_string()).unwrap_or_default(),
        description: e.description.clone(),
        fit: fit_report(&e.fit(context, memory)),
        installed_id,
    }
}

/// The store's models, plus the model given at launch (`WOOLLY_MODEL`) when it lives
/// outside the store, listed first as a referenced import so the UI shows what it chats
/// with. Its digest is computed once per file version.
pub fn known_models(
    store: &woolly_hub::ModelStore,
    launch: Option<&std::path::Path>,
) -> woolly_hub::Result<Vec<woolly_hub::InstalledModel>> {
    let mut list = store.list()?;
    if let Some(f) = crate::engine_host::fallback_model(Some(store), launch) {
        if !list.iter().any(|m| m.path == f.path || m.name == f.id) {
            if let Some(m) = external(&f.path) {
                list.insert(0, m);
            }
        }
    }
    Ok(list)
}

/// True when `id` names the launch model that lives outside the store.
pub fn is_external(
    store: &woolly_hub::ModelStore,
    launch: Option<&std::path::Path>,
    id: &str,
) -> bool {
    store.get(id).is_err()
        && crate::engine_host::fallback_model(Some(store), launch).is_some_and(|f| f.id == id)
}

fn external(path: &std::path::Path) -> Option<woolly_hub::InstalledModel> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (std::path::PathBuf, u64, std::time::SystemTime);
    static DIGESTS: OnceLock<Mutex<HashMap<Key, woolly_hub::Sha256Hex>>> = OnceLock::new();
    let stat = std::fs::metadata(path).ok()?;
    let key: Key = (path.to_path_buf(), stat.len(), stat.modified().ok()?);
    let file = woolly_core::gguf::GgufFile::open(path).ok()?;
    let meta = woolly_hub::ModelMeta::from_gguf(&file).ok()?;
    let digests = DIGESTS.get_or_init(Default::default);
    let cached = digests.lock().ok()?.get(&key).cloned();
    let sha256 = match cached {
        Some(s) => s,
        None => {
            let s = woolly_hub::hash::sha256_file(path).ok()?;
            digests.lock().ok()?.insert(key.clone(), s.clone());
            s
        }
    };
    let added_unix = key
        .2
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(woolly_hub::InstalledModel {
        name: path.file_name()?.to_string_lossy().into_owned(),
        path: path.to_path_buf(),
        source: ModelSource::Referenced,
        sha256,
        size_bytes: stat.len(),
        added_unix,
        meta,
    })
}

// ── Hugging Face search ──

/// The Hub endpoint: `WOOLLY_HF_ENDPOINT` (a mirror, a loopback stand-in), else the Hub.
pub fn hf_api() -> AppResult<HfApi> {
    Ok(HfApi::from_env()?)
}

/// Where the Hugging Face token may be sent: the configured endpoint's host.
pub fn token_scope() -> woolly_hub::auth::TokenScope {
    hf_api().map(|a| a.token_scope()).unwrap_or_default()
}

/// A downloader for Hub API calls and downloads, with the token (when set) scoped to `api`.
pub fn hub_downloader(api: &HfApi, token: Option<String>) -> AppResult<Downloader> {
    Ok(Downloader::new(DownloadOptions {
        token_scope: api.token_scope(),
        ..DownloadOptions::default()
    })?
    .with_token(token))
}

pub fn hub_model(r: &woolly_hub::HubRepo) -> HubModel {
    HubModel {
        id: r.id.clone(),
        downloads: r.downloads,
        likes: r.likes,
        last_modified: r.last_modified.as_deref().and_then(iso8601_ms),
        gated: r.gated,
        private: r.private,
    }
}

/// Why a split GGUF is not downloaded.
pub fn split_refusal(parts: u32) -> String {
    format!(
        "Split into {parts} files: Woolly loads single-file GGUF models only, so it does not download split ones. Choose a single-file quantization, or merge the parts with llama.cpp's gguf-split --merge and import the result."
    )
}

pub fn hub_file(
    f: &woolly_hub::GgufListing,
    context: u64,
    memory: &SystemMemory,
    installed: &[woolly_hub::InstalledModel],
) -> HubFile {
    let file_name = f.path.rsplit('/').next().unwrap_or(&f.path).to_string();
    let note = match (&f.split, &f.sha256) {
        (Some(s), _) if s.present < s.parts => Some(format!(
            "{} Only {} of its {} parts are in the repository.",
            split_refusal(s.parts),
            s.present,
            s.parts
        )),
        (Some(s), _) => Some(split_refusal(s.parts)),
        (None, None) => Some(
            "The Hub lists no SHA-256 for this file (it is not stored in LFS), so Woolly does not download it unverified."
                .to_string(),
        ),
        (None, Some(_)) => None,
    };
    HubFile {
        installed_id: installed
            .iter()
            .find(|m| m.name == file_name)
            .map(|m| m.name.clone()),
        path: f.path.clone(),
        file_name,
        quantization: f.quantization.clone(),
        size_bytes: f.size,
        sha256: f.sha256.as_ref().map(|h| h.to_string()),
        split: f.split.map(|s| HubSplit {
            parts: s.parts,
            present: s.present,
        }),
        fit: fit_by_size(f.size, context, memory),
        downloadable: note.is_none(),
        note,
    }
}

/// What a Hub download needs, looked up in the repository listing when it starts.
pub struct HubDownload {
    pub name: String,
    pub file_name: String,
    pub url: String,
    pub sha256: woolly_hub::Sha256Hex,
    pub size: u64,
}

/// Checks `file` of `repo` and takes its SHA-256 and size from the Hub's LFS metadata.
pub async fn resolve_hub_download(
    api: &HfApi,
    downloader: &Downloader,
    repo: &str,
    file: &str,
) -> AppResult<HubDownload> {
    if let Some((_, parts)) = split_part(file) {
        return Err(AppError::invalid(split_refusal(parts)));
    }
    if !file.to_ascii_lowercase().ends_with(".gguf") {
        return Err(AppError::invalid("Only .gguf files can be downloaded."));
    }
    let listed = api.lfs_file(downloader, repo, "main", file).await?;
    let url = api.resolve_url(repo, "main", file)?;
    let file_name = file.rsplit('/').next().unwrap_or(file).to_string();
    Ok(HubDownload {
        name: file_name.trim_end_matches(".gguf").to_string(),
        file_name,
        url,
        sha256: listed.sha256,
        size: listed.size,
    })
}

/// `2024-09-19T02:16:21.000Z` → Unix ms (UTC; a time zone offset other than Z is refused).
pub fn iso8601_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once('T')?;
    let time = time.strip_suffix('Z')?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':');
    let (hh, mm, ss): (i64, i64, i64) = (
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
        t.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let ms: i64 = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().take(3).collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{digits:0<3}").parse().ok()?
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hh) * 60 + mm) * 60_000 + ss * 1000 + ms)
}

#[cfg(test)]
mod tests {
    use super::{human_parameters, iso8601_ms};

    #[test]
    fn hub_dates() {
        assert_eq!(iso8601_ms("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            iso8601_ms("2024-09-19T02:16:21.000Z"),
            Some(1_726_712_181_000)
        );
        assert_eq!(iso8601_ms("2000-02-29T12:00:00Z"), Some(951_825_600_000));
        assert_eq!(
            iso8601_ms("2024-09-19T02:16:21.5Z"),
            Some(1_726_712_181_500)
        );
        assert_eq!(iso8601_ms("2024-09-19"), None);
        assert_eq!(iso8601_ms("2024-13-19T02:16:21Z"), None);
        assert_eq!(iso8601_ms("2024-09-19T02:16:21+02:00"), None);
    }

    #[test]
    fn parameter_labels() {
        assert_eq!(human_parameters(134_515_008), "135M");
        assert_eq!(human_parameters(1_540_000_000), "1.5B");
        assert_eq!(human_parameters(7_240_000_000), "7.2B");
        assert_eq!(human_parameters(13_000_000_000), "13B");
        assert_eq!(human_parameters(0), "?");
    }
}
