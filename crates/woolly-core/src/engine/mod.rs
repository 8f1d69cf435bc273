//! The embeddable engine: load a GGUF model, generate with streaming and cancellation.
//!
//! ```no_run
//! use woolly_core::engine::{Engine, EngineConfig, GenerateRequest, Prompt};
//! use woolly_core::chat::ChatMessage;
//! let engine = Engine::load("model.gguf", EngineConfig::default())?;
//! let request = GenerateRequest::new(Prompt::Chat(vec![ChatMessage::user("Hi!")]));
//! let reply = engine.generate(&request, |t| print!("{}", t.text))?;
//! println!("\n{:.1} tok/s", reply.stats.decode_tok_s);
//! # Ok::<(), woolly_core::engine::EngineError>(())
//! ```

mod config;
mod error;
mod fault;
mod generate;
mod memory;
mod types;

pub use config::{DevicePreference, EngineConfig, EngineConfigBuilder, KvCacheType};
pub use error::EngineError;
pub use generate::MAX_TOP_LOGPROBS;
pub use memory::{available_memory, MemoryEstimate};
pub use types::*;

use crate::chat::ChatTemplate;
use crate::gguf::GgufFile;
use crate::grammar::{Constraint, Grammar, GrammarVocab};
use crate::model::gpu::Adapter;
use crate::model::{ComputeDevice, DeviceKind, Model, ModelConfig, ModelError};
use crate::tokenizer::Tokenizer;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// Longest context used when the caller does not choose one.
const DEFAULT_MAX_CONTEXT: usize = 4096;

/// Facts about the loaded model, for display.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub model_id: String,
    pub path: PathBuf,
    pub name: Option<String>,
    pub architecture: String,
    pub quantization: String,
    pub file_size: u64,
    pub context_length: usize,
    pub train_context_length: usize,
    /// The width of the hidden states, and of [`Engine::embed`]'s vectors.
    pub embedding_length: usize,
    /// Where the model runs: `"cpu (AVX2, 2 threads)"`, `"gpu: NVIDIA RTX 4070 (Vulkan)"`.
    pub device: String,
    /// Why `auto` chose that device, or why the GPU was left.
    pub device_reason: Option<String>,
    /// The GPU adapter, when the model runs on one.
    pub gpu: Option<Adapter>,
    pub memory: MemoryEstimate,
    pub load_ms: u64,
}

/// A loaded model, ready to generate. `Send + Sync`: share it in an `Arc`; generations run
/// one at a time (others wait their turn).
pub struct Engine {
    info: ModelInfo,
    /// Where the model runs now: `info`'s device until a GPU failure moves it to the CPU.
    device: Mutex<DeviceStatus>,
    reload: Reload,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    /// The vocabulary's trie for constrained decoding, built on first use.
    grammar_vocab: OnceLock<Result<GrammarVocab, crate::grammar::GrammarError>>,
    session: Mutex<Session>,
    subscribers: Mutex<Vec<Sender<EngineEvent>>>,
}

/// Where a model runs, and why.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceStatus {
    pub device: String,
    pub reason: Option<String>,
    pub gpu: Option<Adapter>,
}

/// What it takes to load the model again on the CPU after a GPU failure.
struct Reload {
    file: Arc<GgufFile>,
    config: ModelConfig,
    ctx: usize,
    kv: KvCacheType,
    threads: usize,
}

impl Reload {
    fn load(&self, device: ComputeDevice) -> Result<Model, ModelError> {
        // A reload packs from the map again: a file truncated since would fault.
        self.file.check_unchanged().map_err(ModelError::File)?;
        Model::load(
            self.file.clone(),
            self.config.clone(),
            device,
            self.ctx,
            self.kv,
            self.threads,
        )
    }

    /// On the CPU, saying why.
    fn on_cpu(&self, reason: String) -> Result<Model, ModelError> {
        self.load(ComputeDevice {
            reason: Some(reason),
            ..ComputeDevice::cpu()
        })
    }
}

impl DeviceStatus {
    fn of(device: &ComputeDevice) -> Self {
        Self {
            device: device.name.clone(),
            reason: device.reason.clone(),
            gpu: device.gpu.as_ref().map(|g| g.adapter.clone()),
        }
    }
}

/// The mutable part: the model with its KV cache and the tokens the cache holds.
struct Session {
    model: Model,
    cached: Vec<u32>,
    logits: Vec<f32>,
}

impl Engine {
    /// Loads a model. The memory budget is checked before anything large is allocated.
    pub fn load(path: impl AsRef<Path>, config: EngineConfig) -> Result<Self, EngineError> {
        catch_panics(|| Self::load_inner(path.as_ref(), &config))
    }

    fn load_inner(path: &Path, config: &EngineConfig) -> Result<Self, EngineError> {
        let start = Instant::now();
        let mut file = GgufFile::open_with(path, config.use_mmap)?;
        let model_config = ModelConfig::from_gguf(&file)?;
        let tokenizer = Tokenizer::from_gguf(&file)?;
        let template = ChatTemplate::from_gguf(&file)?;
        // The tokenizer has its own copy of the vocabulary now.
        file.forget_metadata("tokenizer.ggml.");
        file.release_header();
        let file = Arc::new(file);
        let ctx = match config.context_length {
            0 => model_config.train_ctx.min(DEFAULT_MAX_CONTEXT),
            n => n,
        };
        let memory = MemoryEstimate::new(&file, &model_config, ctx, config.kv_cache);
        let available = config.max_memory.or_else(available_memory);
        if let Some(available) = available {
            if memory.total() > available {
                return Err(EngineError::InsufficientMemory {
                    needed: memory.total(),
                    available,
                });
            }
        }
        let device =
            ComputeDevice::select(config.device, memory.total()).map_err(ModelError::Device)?;
        let reload = Reload {
            file: file.clone(),
            config: model_config.clone(),
            ctx,
            kv: config.kv_cache,
            threads: config.effective_threads(),
        };
        let model = load_model(&reload, device)?;
        return_freed_memory();
        let load_ms = start.elapsed().as_millis() as u64;
        let status = DeviceStatus::of(model.device());
        let info = ModelInfo {
            model_id: path
                .file_stem()
                .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
            path: path.to_path_buf(),
            name: file.get_str("general.name").map(str::to_owned),
            architecture: file.arch()?.to_owned(),
            quantization: dominant_quantization(&file),
            file_size: file.file_size(),
            context_length: ctx,
            train_context_length: model_config.train_ctx,
            embedding_length: model_config.dim,
            device: status.device.clone(),
            device_reason: status.reason.clone(),
            gpu: status.gpu.clone(),
            memory,
            load_ms,
        };
        let logits = vec![0.0; model_config.vocab_size];
        Ok(Self {
            device: Mutex::new(status),
            reload,
            info,
            tokenizer,
            template,
            grammar_vocab: OnceLock::new(),
            session: Mutex::new(Session {
                model,
                cached: Vec::new(),
                logits,
            }),
            subscribers: Mutex::new(Vec::new()),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Kernel launches and readbacks so far, when the model runs on a GPU (waits for a
    /// running generation).
    pub fn gpu_counters(&self) -> Option<crate::model::gpu::GpuCounters> {
        lock(&self.session).model.gpu_counters()
    }

    /// Where the model runs now (the CPU after a GPU failure, whatever `info` says).
    pub fn device(&self) -> DeviceStatus {
        lock(&self.device).clone()
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn chat_template(&self) -> &ChatTemplate {
        &self.template
    }

    /// Compiles a constraint on replies for this model's vocabulary; an invalid or
    /// unsupported one is an error naming what is wrong. Compile once, use for many requests.
    pub fn grammar(&self, constraint: &Constraint) -> Result<Grammar, EngineError> {
        let vocab = self
            .grammar_vocab
            .get_or_init(|| GrammarVocab::new(&self.tokenizer, self.reload.config.vocab_size))
            .as_ref()
            .map_err(Clone::clone)?;
        // A compiler panic on some odd schema is the schema's problem to report, not ours.
        catch_panics(|| Ok(Grammar::compile(vocab, constraint)?)).map_err(|e| match e {
            EngineError::Internal(msg) => crate::grammar::GrammarError(format!(
                "the constraint could not be compiled ({msg})"
            ))
            .into(),
            other => other,
        })
    }

    /// A grammar whose only replies are one call to one of `functions` (`(name, parameters
    /// JSON schema)`), written the way this model writes calls, its arguments valid.
    pub fn tool_call_grammar(
        &self,
        functions: &[(&str, &serde_json::Value)],
    ) -> Result<Grammar, EngineError> {
        let syntax = self.template.tool_syntax();
        let lark = crate::chat::tools::call_grammar(syntax, functions, |text| {
            self.tokenizer.token_id(text)
        });
        self.grammar(&Constraint::Lark(lark))
    }

    /// Receives [`EngineEvent`]s from now on. The `ModelLoaded` event is replayed first.
    pub fn subscribe(&self) -> Receiver<EngineEvent> {
        let (tx, rx) = channel();
        let _ = tx.send(EngineEvent::ModelLoaded {
            model_id: self.info.model_id.clone(),
            load_ms: self.info.load_ms,
        });
        lock(&self.subscribers).push(tx);
        rx
    }

    fn emit(&self, event: EngineEvent) {
        lock(&self.subscribers).retain(|tx| tx.send(event.clone()).is_ok());
    }

    /// The token ids a prompt turns into.
    pub fn prompt_tokens(&self, prompt: &Prompt) -> Result<Vec<u32>, EngineError> {
        self.prompt_tokens_with_tools(prompt, &[])
    }

    /// [`Engine::prompt_tokens`], a chat showing the model these tools (OpenAI's
    /// `{"type": "function", "function": {...}}` objects).
    pub fn prompt_tokens_with_tools(
        &self,
        prompt: &Prompt,
        tools: &[serde_json::Value],
    ) -> Result<Vec<u32>, EngineError> {
        Ok(match prompt {
            Prompt::Text(text) => self.tokenizer.encode(text, true, true),
            Prompt::Chat(messages) => {
                let text = self.template.render_with_tools(messages, tools, true)?;
                self.tokenizer.encode(&text, true, true)
            }
            Prompt::Tokens(ids) => ids.clone(),
        })
    }

    /// The tokens [`Engine::embed`] reads for a text (its BOS when the model adds one; special
    /// tokens as plain text).
    pub fn embedding_tokens(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, true, false)
    }

    /// An embedding of `tokens` from the loaded model: the mean of the last hidden states
    /// (after the output norm), L2-normalized. The model's own forward pass, no second copy of
    /// the weights; waits for a running generation.
    pub fn embed(&self, tokens: &[u32]) -> Result<Vec<f32>, EngineError> {
        if tokens.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        let mut session = lock(&self.session);
        let context_length = session.model.context_length();
        if tokens.len() > context_length {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: tokens.len(),
                context_length,
            });
        }
        let mut sum = vec![0.0f32; session.model.config().dim];
        let result = catch_panics(|| Ok(session.model.hidden_sum(tokens, 0, &mut sum)?));
        // The cache from position 0 now holds these tokens: keep what the last turn shares.
        let keep = match result {
            Ok(()) => generate::common_prefix(&session.cached, tokens),
            Err(_) => 0,
        };
        session.cached.truncate(keep);
        result?;
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            sum.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(sum)
    }

    /// Generates a reply, calling `on_token` for each token as it is produced. Blocks the
    /// calling thread: call it from a worker, never from an async runtime's threads.
    pub fn generate(
        &self,
        request: &GenerateRequest,
        on_token: impl FnMut(&TokenEvent),
    ) -> Result<Generation, EngineError> {
        let mut session = lock(&self.session);
        let mut result = catch_panics(|| generate::run(self, &mut session, request, on_token));
        if session.model.device().kind == DeviceKind::Gpu {
            if let Err(e) = &result {
                if matches!(
                    e,
                    EngineError::Model(ModelError::Device(_)) | EngineError::Internal(_)
                ) {
                    result = Err(self.leave_gpu(&mut session, e.to_string()));
                }
            }
        }
        drop(session);
        match &result {
            Ok(g) => self.emit(EngineEvent::GenerationComplete {
                text: g.text.clone(),
                stats: g.stats.clone(),
            }),
            Err(e) => self.emit(EngineEvent::Error {
                message: e.to_string(),
            }),
        }
        result
    }
}

impl Engine {
    /// After the GPU failed mid-reply: the model moves to the CPU (the conversation is
    /// kept by the caller and its prompt recomputed), and the reply ends with this error.
    fn leave_gpu(&self, session: &mut Session, failure: String) -> EngineError {
        let reason = format!("the GPU failed ({failure}); running on the CPU");
        match catch_panics(|| Ok(self.reload.on_cpu(reason.clone())?)) {
            Ok(model) => {
                *lock(&self.device) = DeviceStatus::of(model.device());
                session.model = model;
                session.cached.clear();
                EngineError::GpuFailed(reason)
            }
            Err(e) => EngineError::GpuFailed(format!(
                "the GPU failed ({failure}) and the model could not be loaded on the CPU: {e}"
            )),
        }
    }
}

/// Loads on `device`; a GPU that fails while loading (an error or a panic in the driver)
/// leaves the model on the CPU, with the reason.
fn load_model(reload: &Reload, device: ComputeDevice) -> Result<Model, EngineError> {
    if device.kind == DeviceKind::Cpu {
        return Ok(reload.load(device)?);
    }
    catch_panics(|| Ok(reload.load(device)?)).or_else(|e| {
        let reason = format!("the GPU failed while loading ({e}); running on the CPU");
        Ok(reload.on_cpu(reason)?)
    })
}

/// A mutex that keeps working after a panic elsewhere (the state it guards stays valid:
/// the KV cache is rebuilt from `cached`, which is only set after a successful step).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn catch_panics<T>(f: impl FnOnce() -> Result<T, EngineError>) -> Result<T, EngineError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let msg = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".into());
        Err(EngineError::Internal(msg))
    })
}

/// The quantization most of the weight bytes use, e.g. "Q4_1".
fn dominant_quantization(file: &GgufFile) -> String {
    let mut bytes: std::collections::HashMap<&str, u64> = Default::default();
    for t in file.tensors() {
        *bytes.entry(t.ggml_type.name()).or_default() += t.n_bytes;
    }
    bytes
        .into_iter()
        .max_by_key(|(_, b)| *b)
        .map_or("none".into(), |(n, _)| n.to_owned())
}

/// Hands the heap's free pages back to the OS: loading frees megabytes (the parsed
/// vocabulary, buffers of the load) that glibc would otherwise keep in the process, and an
/// unloaded engine's weights (most are heap blocks below glibc's mmap threshold) stay in
/// the process until this runs. Call it after dropping an engine.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}
