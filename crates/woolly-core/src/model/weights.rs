//! Weight matrices kept in their GGUF block format, borrowed from the (mapped) file while
//! loading. Whatever is read after load is copied ([`QMatrix::into_owned`]) or read row by
//! row ([`QMatrix::dequantize_row`]): a mapped file truncated under a loaded model must give
//! an error, never a fault (SIGBUS).

use super::config::{Arch, ModelConfig};
use super::ModelError;
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{self, GgmlType};
use std::sync::Arc;

/// A `rows x cols` matrix in GGUF block format; row `r` is `cols` elements, contiguous.
#[derive(Clone)]
pub struct QMatrix {
    file: Arc<GgufFile>,
    info: TensorInfo,
    /// The blocks copied out of a mapped file, for a matrix read after load.
    owned: Option<Arc<[u8]>>,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
}

impl std::fmt::Debug for QMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QMatrix({} {}x{} {})",
            self.info.name, self.rows, self.cols, self.ty
        )
    }
}

impl QMatrix {
    /// The matrix `name` of `file`, which must be `rows x cols`.
    pub(crate) fn named(
        file: &Arc<GgufFile>,
        name: &str,
        rows: usize,
        cols: usize,
    ) -> Result<Self, ModelError> {
        let info = file
            .tensor(name)
            .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
        let m = Self::new(file.clone(), info.clone());
        if (m.rows, m.cols) != (rows, cols) {
            return Err(ModelError::BadTensor {
                name: name.into(),
                reason: format!(
                    "shape {}x{} where {rows}x{cols} was expected",
                    m.rows, m.cols
                ),
            });
        }
        Ok(m)
    }

    pub(crate) fn new(file: Arc<GgufFile>, info: TensorInfo) -> Self {
        let (rows, cols) = info.rows_cols();
        Self {
            ty: info.ggml_type,
            rows,
            cols,
            file,
            info,
            owned: None,
        }
    }

    /// Rows `first..first + n` as a matrix of their own: how a fused tensor (Phi-3's
    /// `attn_qkv`, `ffn_up` holding gate and up) becomes the products it fuses, with no copy.
    pub(crate) fn row_range(&self, first: usize, n: usize) -> Self {
        assert!(first + n <= self.rows);
        let row_bytes = self.row_bytes() as u64;
        let info = TensorInfo {
            name: format!("{}[{first}..{}]", self.info.name, first + n),
            dims: vec![self.cols as u64, n as u64],
            ggml_type: self.ty,
            offset: self.info.offset + first as u64 * row_bytes,
            n_bytes: n as u64 * row_bytes,
        };
        let owned = self.owned.as_ref().map(|b| {
            let start = first * row_bytes as usize;
            Arc::from(&b[start..start + n * row_bytes as usize])
        });
        Self {
            owned,
            ..Self::new(self.file.clone(), info)
        }
    }

    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// All blocks, row after row.
    pub fn bytes(&self) -> &[u8] {
        match &self.owned {
            Some(b) => b,
            None => self.file.tensor_data(&self.info),
        }
    }

    /// This matrix with its blocks in memory of its own, for one read after load: the file's
    /// pages are handed back as they are copied, so it is never in memory twice. A matrix
    /// of an unmapped file (already in memory) stays as it is.
    pub fn into_owned(mut self) -> Self {
        if self.owned.is_some() || !self.file.is_mapped() {
            return self;
        }
        let src = self.file.tensor_data(&self.info);
        let mut copy = Vec::with_capacity(src.len());
        for chunk in src.chunks(4 << 20) {
            let done = copy.len();
            copy.extend_from_slice(chunk);
            self.release(done, chunk.len());
        }
        self.owned = Some(copy.into());
        self
    }

    /// Dequantizes row `r` into `out`. A row of the mapped file (a table read a row at a
    /// time, e.g. untied token embeddings) is read with a positioned read, so a file
    /// truncated since load gives an error instead of a fault.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), ModelError> {
        let bad = |reason: String| ModelError::BadTensor {
            name: self.info.name.clone(),
            reason,
        };
        if r >= self.rows {
            return Err(bad(format!("row {r} of {}", self.rows)));
        }
        if self.owned.is_some() || !self.file.is_mapped() {
            return quant::dequantize(self.ty, self.row(r), out).map_err(|e| bad(e.to_string()));
        }
        thread_local! {
            static ROW: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        ROW.with_borrow_mut(|buf| {
            let n = self.row_bytes();
            buf.resize(n, 0);
            self.file
                .read_at(self.info.offset + (r * n) as u64, buf)
                .map_err(ModelError::File)?;
            quant::dequantize(self.ty, buf, out).map_err(|e| bad(e.to_string()))
        })
    }

    pub fn row_bytes(&self) -> usize {
        self.cols / self.ty.block_size() * self.ty.type_size()
    }

    /// Lets the OS drop the pages of bytes `start..start + len` of this matrix in a mapped
    /// file (after they were copied).
    pub fn release(&self, start: usize, len: usize) {
        self.file.release(self.info.offset as usize + start, len);
    }

    /// The blocks of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.row_bytes();
        &self.bytes()[r * n..(r + 1) * n]
    }
}

/// A (small) tensor dequantized to f32: norms and biases.
pub(super) fn load_vec(file: &GgufFile, name: &str) -> Result<Vec<f32>, ModelError> {
    let info = file
        .tensor(name)
        .ok_or_else(|| ModelError::MissingTensor(name.into()))?;
    let mut out = vec![0.0f32; info.n_elements() as usize];
    quant::dequantize(info.ggml_type, file.tensor_data(info), &mut out).map_err(|e| {
        ModelError::BadTensor {
            name: name.into(),
            reason: e.to_string(),
        }
    })?;
    Ok(out)
}

/// A matrix product's weight and optional bias, as a compute path keeps them (`M` a
/// matrix, `V` a vector).
pub(crate) struct Linear<M, V> {
    pub weight: M,
    pub bias: Option<V>,
}

/// One decoder layer's tensors, as a compute path keeps them: the CPU packs the matrices
/// and keeps vectors in host memory, the GPU uploads both. Loaded once, here, for both.
pub(crate) struct LayerWeights<M, V> {
    pub attn_norm: V,
    pub wq: Linear<M, V>,
    pub wk: Linear<M, V>,
    pub wv: Linear<M, V>,
    pub wo: Linear<M, V>,
    /// Per-head RMSNorm of queries and keys (Qwen3).
    pub q_norm: Option<V>,
    pub k_norm: Option<V>,
    /// RMSNorm of the attention's and the feed-forward's outputs before the residual add
    /// (Gemma).
    pub post_attn_norm: Option<V>,
    pub ffn_norm: V,
    pub post_ffn_norm: Option<V>,
    pub gate: Linear<M, V>,
    pub up: Linear<M, V>,
    pub down: Linear<M, V>,
}

impl<M, V> LayerWeights<M, V> {
    /// Layer `i` of `file`, checked against `cfg`'s shapes; `matrix` and `vector` make
    /// each tensor what the path keeps.
    pub(crate) fn load(
        file: &Arc<GgufFile>,
        cfg: &ModelConfig,
        i: usize,
        matrix: &impl Fn(QMatrix) -> Result<M, ModelError>,
        vector: &impl Fn(Vec<f32>) -> Result<V, ModelError>,
    ) -> Result<Self, ModelError> {
        let p = format!("blk.{i}");
        let vec = |name: &str| vector(load_vec(file, &format!("{p}.{name}"))?);
        let optional = |name: &str| match file.tensor(&format!("{p}.{name}")) {
            Some(_) => vec(name).map(Some),
            None => Ok(None),
        };
        let linear = |name: &str, rows: usize, cols: usize| -> Result<Linear<M, V>, ModelError> {
            Ok(Linear {
                weight: matrix(QMatrix::named(
                    file,
                    &format!("{p}.{name}.weight"),
                    rows,
                    cols,
                )?)?,
                bias: optional(&format!("{name}.bias"))?,
            })
        };
        let (dim, ffn) = (cfg.dim, cfg.ffn_dim);
        let (q_dim, kv_dim) = (cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim);
        let [wq, wk, wv] = if file.tensor(&format!("{p}.attn_qkv.weight")).is_some() {
            split(
                file,
                &p,
                "attn_qkv",
                [q_dim, kv_dim, kv_dim],
                dim,
                matrix,
                vector,
            )?
        } else {
            [
                linear("attn_q", q_dim, dim)?,
                linear("attn_k", kv_dim, dim)?,
                linear("attn_v", kv_dim, dim)?,
            ]
        };
        // Without `ffn_gate`, `ffn_up` holds the gate's rows and then the up rows.
        let [gate, up] = if file.tensor(&format!("{p}.ffn_gate.weight")).is_some() {
            [linear("ffn_gate", ffn, dim)?, linear("ffn_up", ffn, dim)?]
        } else {
            split(file, &p, "ffn_up", [ffn, ffn], dim, matrix, vector)?
        };
        let layer = Self {
            attn_norm: vec("attn_norm.weight")?,
            wq,
            wk,
            wv,
            wo: linear("attn_output", dim, q_dim)?,
            q_norm: optional("attn_q_norm.weight")?,
            k_norm: optional("attn_k_norm.weight")?,
            post_attn_norm: optional("post_attention_norm.weight")?,
            ffn_norm: vec("ffn_norm.weight")?,
            post_ffn_norm: optional("post_ffw_norm.weight")?,
            gate,
            up,
            down: linear("ffn_down", dim, ffn)?,
        };
        let needs_qk_norms = matches!(cfg.arch, Arch::Qwen3 | Arch::Gemma3);
        if needs_qk_norms && (layer.q_norm.is_none() || layer.k_norm.is_none()) {
            return Err(ModelError::MissingTensor(format!(
                "{p}.attn_q_norm.weight / {p}.attn_k_norm.weight"
            )));
        }
        if matches!(cfg.arch, Arch::Gemma2 | Arch::Gemma3)
            && (layer.post_attn_norm.is_none() || layer.post_ffn_norm.is_none())
        {
            return Err(ModelError::MissingTensor(format!(
                "{p}.post_attention_norm.weight / {p}.post_ffw_norm.weight"
            )));
        }
        Ok(layer)
    }
}

impl<M, V> LayerWeights<M, V> {
    /// The matrices taken out, in the order `[wq, wk, wv, wo, gate, up, down]`, leaving the
    /// norms and biases (for a path that uploads some matrices together).
    pub(crate) fn take_matrices(self) -> (LayerWeights<(), V>, [M; 7]) {
        let linear = |l: Linear<M, V>| {
            let bias = l.bias;
            (Linear { weight: (), bias }, l.weight)
        };
        let (wq, q) = linear(self.wq);
        let (wk, k) = linear(self.wk);
        let (wv, v) = linear(self.wv);
        let (wo, o) = linear(self.wo);
        let (gate, g) = linear(self.gate);
        let (up, u) = linear(self.up);
        let (down, d) = linear(self.down);
        let rest = LayerWeights {
            attn_norm: self.attn_norm,
            wq,
            wk,
            wv,
            wo,
            q_norm: self.q_norm,
            k_norm: self.k_norm,
            post_attn_norm: self.post_attn_norm,
            ffn_norm: self.ffn_norm,
            post_ffn_norm: self.post_ffn_norm,
            gate,
            up,
            down,
        };
        (rest, [q, k, v, o, g, u, d])
    }
}

/// The fused tensor `{p}.{name}` (`rows.iter().sum() x cols`, with its bias if any) cut
/// into the `N` products it holds, in order.
fn split<M, V, const N: usize>(
    file: &Arc<GgufFile>,
    p: &str,
    name: &str,
    rows: [usize; N],
    cols: usize,
    matrix: &impl Fn(QMatrix) -> Result<M, ModelError>,
    vector: &impl Fn(Vec<f32>) -> Result<V, ModelError>,
) -> Result<[Linear<M, V>; N], ModelError> {
    let total = rows.iter().sum();
    let fused = QMatrix::named(file, &format!("{p}.{name}.weight"), total, cols)?;
    let bias_name = format!("{p}.{name}.bias");
    let bias = match file.tensor(&bias_name) {
        Some(_) => Some(load_vec(file, &bias_name)?),
        None => None,
    };
    if bias.as_ref().is_some_and(|b| b.len() != total) {
        return Err(ModelError::BadTensor {
            name: bias_name,
            reason: format!("{total} values were expected"),
        });
    }
    let mut first = 0;
    let mut parts = Vec::with_capacity(N);
    for n in rows {
        parts.push(Linear {
            weight: matrix(fused.row_range(first, n))?,
            bias: match &bias {
                Some(b) => Some(vector(b[first..first + n].to_vec())?),
                None => None,
            },
        });
        first += n;
    }
    Ok(parts.try_into().unwrap_or_else(|_| unreachable!()))
}
