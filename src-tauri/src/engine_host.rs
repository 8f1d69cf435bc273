//! Owns the engine: which model to use, lazy loading (with progress), unloading, and the
//! load state the status bar shows. Loading blocks: call it from a blocking worker.

use crate::error::{AppError, AppResult, ErrorCode};
use crate::types::{DevicePref, LoadedModel, ModelState, Settings};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use woolly_core::engine::{DevicePreference, Engine, EngineConfig};
use woolly_hub::ModelStore;

/// A model the engine can load.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRef {
    /// Installed model id (the store's name), or the file name for a model outside it.
    pub id: String,
    pub name: String,
    pub path: PathBuf,
    /// Trained context length, when the header says.
    pub max_context: Option<u32>,
}

impl ModelRef {
    fn from_path(path: PathBuf) -> Self {
        let id = path
            .file_name()
            .map_or("model".into(), |n| n.to_string_lossy().into_owned());
        let meta = woolly_core::gguf::GgufFile::open(&path)
            .ok()
            .and_then(|f| woolly_hub::ModelMeta::from_gguf(&f).ok());
        let name = crate::hub::name_for(&id, meta.as_ref().and_then(|m| m.display_name.as_deref()));
        let max_context = meta
            .and_then(|m| m.context_length)
            .map(|c| c.min(u32::MAX as u64) as u32);
        Self {
            id,
            name,
            path,
            max_context,
        }
    }

    fn from_installed(m: &woolly_hub::InstalledModel) -> Self {
        Self {
            id: m.name.clone(),
            name: crate::hub::display_name(m),
            path: m.path.clone(),
            max_context: m.meta.context_length.map(|c| c.min(u32::MAX as u64) as u32),
        }
    }
}

/// The model used when none is chosen: the one given at launch (`WOOLLY_MODEL`, see
/// [`crate::AppPaths::launch_model`]), else the first installed model. Nothing else: no
/// path of the build machine or of the working directory.
pub fn fallback_model(store: Option<&ModelStore>, launch: Option<&Path>) -> Option<ModelRef> {
    if let Some(p) = launch {
        return Some(ModelRef::from_path(p.to_path_buf()));
    }
    store
        .and_then(|s| s.list().ok())
        .and_then(|l| l.into_iter().next())
        .map(|first| ModelRef::from_installed(&first))
}

/// Resolves a model id (None = the settings' default, else the fallback).
pub fn resolve(
    store: Option<&ModelStore>,
    launch: Option<&Path>,
    id: Option<&str>,
    settings: &Settings,
) -> AppResult<ModelRef> {
    let no_model = || {
        AppError::new(
            ErrorCode::NoModel,
            "No model installed. Download one on the Models page.",
        )
    };
    match id.or(settings.default_model_id.as_deref()) {
        None => fallback_model(store, launch).ok_or_else(no_model),
        Some(id) => {
            if let Some(m) = store.and_then(|s| s.get(id).ok()) {
                return Ok(ModelRef::from_installed(&m));
            }
            match fallback_model(store, launch) {
                Some(f) if f.id == id => Ok(f),
                _ => Err(AppError::new(
                    ErrorCode::NoModel,
                    format!("The model {id:?} is not installed. Choose another one in Settings or on the Models page."),
                )),
            }
        }
    }
}

pub fn engine_config(settings: &Settings, context: u32) -> EngineConfig {
    let mut b = EngineConfig::builder()
        .device(match settings.device {
            DevicePref::Auto => DevicePreference::Auto,
            DevicePref::Gpu => DevicePreference::Gpu,
            DevicePref::Cpu => DevicePreference::Cpu,
        })
        .threads(settings.threads.unwrap_or(0) as usize)
        .context_length(context as usize);
    if let Some(limit) = settings.memory_limit_bytes {
        b = b.max_memory(limit);
    }
    b.build()
}

struct Slot {
    engine: Option<Arc<Engine>>,
    model: Option<ModelRef>,
    loaded: Option<LoadedModel>,
    state: ModelState,
    error: Option<String>,
}

pub struct EngineHost {
    slot: Mutex<Slot>,
    /// One load at a time.
    loading: Mutex<()>,
    /// When the engine was last asked for or seen in use (idle unloading counts from here).
    last_used: Mutex<std::time::Instant>,
}

impl Default for EngineHost {
    fn default() -> Self {
        Self {
            slot: Mutex::new(Slot {
                engine: None,
                model: None,
                loaded: None,
                state: ModelState::Unloaded,
                error: None,
            }),
            loading: Mutex::new(()),
            last_used: Mutex::new(std::time::Instant::now()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EngineHost {
    /// State, loaded (or loading) model and last error, for `system_info`.
    pub fn status(&self) -> (ModelState, Option<LoadedModel>, Option<String>) {
        let s = lock(&self.slot);
        (s.state, s.loaded.clone(), s.error.clone())
    }

    /// Where the loaded model runs now (the CPU after a GPU failure), and why.
    pub fn device(&self) -> Option<woolly_core::engine::DeviceStatus> {
        lock(&self.slot).engine.as_ref().map(|e| e.device())
    }

    /// The loaded engine, if any (what the local API server shares).
    pub fn current(&self) -> Option<Arc<Engine>> {
        lock(&self.slot).engine.clone()
    }

    pub fn loaded_id(&self) -> Option<String> {
        lock(&self.slot).model.as_ref().map(|m| m.id.clone())
    }

    /// Returns the engine for `model` with at least `context` tokens (capped at what the
    /// model was trained for), loading it when needed. Blocking.
    pub fn ensure(
        &self,
        model: &ModelRef,
        context: u32,
        settings: &Settings,
        progress: &mut dyn FnMut(f32, &str),
    ) -> AppResult<(Arc<Engine>, LoadedModel)> {
        let context = model
            .max_context
            .map_or(context, |max| context.min(max))
            .max(64);
        let _one_at_a_time = lock(&self.loading);
        *lock(&self.last_used) = std::time::Instant::now();
        {
            let s = lock(&self.slot);
            if let (Some(engine), Some(current), Some(loaded)) = (&s.engine, &s.model, &s.loaded) {
                if current.path == model.path && engine.info().context_length >= context as usize {
                    return Ok((engine.clone(), loaded.clone()));
                }
            }
        }
        self.load_inner(model, context, settings, progress)
    }

    /// Loads `model` (replacing the current one). Blocking.
    pub fn load(
        &self,
        model: &ModelRef,
        context: u32,
        settings: &Settings,
        progress: &mut dyn FnMut(f32, &str),
    ) -> AppResult<(Arc<Engine>, LoadedModel)> {
        let context = model
            .max_context
            .map_or(context, |max| context.min(max))
            .max(64);
        let _one_at_a_time = lock(&self.loading);
        self.load_inner(model, context, settings, progress)
    }

    fn load_inner(
        &self,
        model: &ModelRef,
        context: u32,
        settings: &Settings,
        progress: &mut dyn FnMut(f32, &str),
    ) -> AppResult<(Arc<Engine>, LoadedModel)> {
        *lock(&self.last_used) = std::time::Instant::now();
        let size = std::fs::metadata(&model.path).map(|m| m.len()).unwrap_or(0);
        {
            let mut s = lock(&self.slot);
            // Free the old model first: two large models may not fit side by side.
            s.engine = None;
            s.model = Some(model.clone());
            s.state = ModelState::Loading;
            s.error = None;
            s.loaded = Some(LoadedModel {
                id: model.id.clone(),
                name: model.name.clone(),
                architecture: String::new(),
                quantization: String::new(),
                context_length: context,
                size_bytes: size,
                load_ms: 0,
            });
        }
        progress(0.1, "Reading GGUF metadata");
        if !model.path.is_file() {
            return self.failed(AppError::new(
                ErrorCode::NoModel,
                format!("The model file {} is missing.", model.path.display()),
            ));
        }
        progress(0.3, "Mapping weights");
        let engine = match Engine::load(&model.path, engine_config(settings, context)) {
            Ok(e) => Arc::new(e),
            Err(e) => return self.failed(e.into()),
        };
        progress(1.0, "Ready");
        let info = engine.info();
        let loaded = LoadedModel {
            id: model.id.clone(),
            name: model.name.clone(),
            architecture: info.architecture.clone(),
            quantization: info.quantization.clone(),
            context_length: info.context_length as u32,
            size_bytes: info.file_size,
            load_ms: info.load_ms,
        };
        let mut s = lock(&self.slot);
        s.engine = Some(engine.clone());
        s.loaded = Some(loaded.clone());
        s.state = ModelState::Loaded;
        Ok((engine, loaded))
    }

    fn failed<T>(&self, e: AppError) -> AppResult<T> {
        let mut s = lock(&self.slot);
        s.engine = None;
        s.state = ModelState::Error;
        s.error = Some(e.message.clone());
        Err(e)
    }

    /// Drops the engine (a generation still running keeps its own reference until it ends).
    pub fn unload(&self) {
        let _one_at_a_time = lock(&self.loading);
        self.clear();
    }

    /// Unloads the model when nothing has held it for `idle` (a running reply or the local
    /// API server keeps its own reference): its memory goes back to the OS. Whether it
    /// unloaded. A check that finds the engine in use restarts the clock, so idle time counts
    /// from the end of a long reply (to within the caller's check interval), not its start.
    pub fn unload_if_idle(&self, idle: std::time::Duration) -> bool {
        let _one_at_a_time = lock(&self.loading);
        let s = lock(&self.slot);
        let Some(engine) = s.engine.as_ref() else {
            return false;
        };
        let mut last_used = lock(&self.last_used);
        if Arc::strong_count(engine) > 1 {
            *last_used = std::time::Instant::now();
            return false;
        }
        if last_used.elapsed() < idle {
            return false;
        }
        drop((last_used, s));
        self.clear();
        true
    }

    /// Forgets the model and gives its memory back; the caller holds `loading`.
    fn clear(&self) {
        *lock(&self.slot) = Slot {
            engine: None,
            model: None,
            loaded: None,
            state: ModelState::Unloaded,
            error: None,
        };
        woolly_core::engine::return_freed_memory();
    }

    /// Unloads if `path` is the loaded model.
    pub fn unload_path(&self, path: &Path) {
        let is_it = lock(&self.slot)
            .model
            .as_ref()
            .is_some_and(|m| m.path == path);
        if is_it {
            self.unload();
        }
    }
}
