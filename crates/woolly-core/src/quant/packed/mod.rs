//! Weights repacked at load into the layout the CPU kernels stream best: four rows
//! interleaved block by block, so one pass over memory feeds four output rows and one
//! activation block is loaded once for all four.
//!
//! A group is 4 rows. For each block column of a group, the four rows' f16 scales sit
//! together in `scales` (`d0..d3`, then `m0..m3` for Q4_1), and their quants sit together
//! in one or two 64-byte lines of `quants`:
//! - Q4_0 / Q4_1: line = row 0's 16 nibble bytes, row 1's, row 2's, row 3's;
//! - Q8_0: two lines = rows 0..3's 32 bytes each, stored as `w + 128` (unsigned), so the
//!   kernels multiply unsigned weights by signed activations and fold `-128 * d * sum(x)`
//!   into the offset term.
//!
//! Every kernel computes `d_w * d_x * sum(u * q) + m_w * s_x` per block, where `u` are the
//! unsigned stored weights and `m_w` is Q4_1's min, or `-8 d` (Q4_0) / `-128 d` (Q8_0).

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod portable;
mod tiles;

use super::dot::{Q8Block, Q8_BLOCK};
use super::GgmlType;
use std::ops::Range;
use std::sync::OnceLock;
pub use tiles::{TokenTiles, TILE};

/// Whether [`PackedMatrix::gemm_amx`] can run: the CPU has AMX-INT8 and the OS allows it.
pub fn amx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return amx::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Rows per interleaved group.
pub const GROUP: usize = 4;

/// One 64-byte, 64-byte-aligned line of packed quants.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct Line(pub [u8; 64]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PackedKind {
    Q4_0,
    Q4_1,
    Q8_0,
}

impl PackedKind {
    pub fn of(ty: GgmlType) -> Option<Self> {
        match ty {
            GgmlType::Q4_0 => Some(Self::Q4_0),
            GgmlType::Q4_1 => Some(Self::Q4_1),
            GgmlType::Q8_0 => Some(Self::Q8_0),
            _ => None,
        }
    }

    /// f16 scales per block column of a group.
    fn scales(self) -> usize {
        match self {
            Self::Q4_1 => 2 * GROUP,
            Self::Q4_0 | Self::Q8_0 => GROUP,
        }
    }

    /// 64-byte lines per block column of a group.
    fn lines(self) -> usize {
        match self {
            Self::Q4_0 | Self::Q4_1 => 1,
            Self::Q8_0 => 2,
        }
    }

    fn ggml(self) -> GgmlType {
        match self {
            Self::Q4_0 => GgmlType::Q4_0,
            Self::Q4_1 => GgmlType::Q4_1,
            Self::Q8_0 => GgmlType::Q8_0,
        }
    }
}

/// The instruction set the kernels run with, detected once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    Avx2,
    Portable,
}

impl Isa {
    pub fn detect() -> Self {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if avx512::available() {
                    return Isa::Avx512Vnni;
                }
                if avx2::available() {
                    return Isa::Avx2;
                }
            }
            Isa::Portable
        })
    }

    /// Every instruction set this CPU can run, best first (for tests and benchmarks).
    pub fn all_available() -> Vec<Self> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if avx512::available() {
                all.push(Isa::Avx512Vnni);
            }
            if avx2::available() {
                all.push(Isa::Avx2);
            }
        }
        all.push(Isa::Portable);
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "AVX-512 VNNI",
            Self::Avx2 => "AVX2",
            Self::Portable => "portable",
        }
    }
}

/// A `rows x cols` matrix in the interleaved layout above.
pub struct PackedMatrix {
    pub kind: PackedKind,
    pub rows: usize,
    pub cols: usize,
    /// Blocks per row.
    nb: usize,
    scales: Vec<u16>,
    quants: Vec<Line>,
}

impl std::fmt::Debug for PackedMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackedMatrix({:?} {}x{})",
            self.kind, self.rows, self.cols
        )
    }
}

impl PackedMatrix {
    /// Repacks `rows` rows of GGUF blocks (`data`, row after row). Returns `None` for types
    /// without a packed layout. Rows past the last multiple of 4 are padded with zeros.
    pub fn pack(ty: GgmlType, data: &[u8], rows: usize, cols: usize) -> Option<Self> {
        Self::pack_with(ty, data, rows, cols, |_| {})
    }

    /// [`Self::pack`], telling `consumed(n)` as it goes that the first `n` bytes of `data`
    /// have been copied (so a caller can hand their pages back while packing continues).
    pub fn pack_with(
        ty: GgmlType,
        data: &[u8],
        rows: usize,
        cols: usize,
        mut consumed: impl FnMut(usize),
    ) -> Option<Self> {
        let kind = PackedKind::of(ty)?;
        if !cols.is_multiple_of(Q8_BLOCK) || data.len() != rows * cols / Q8_BLOCK * ty.type_size() {
            return None;
        }
        let nb = cols / Q8_BLOCK;
        let groups = rows.div_ceil(GROUP);
        let mut scales = vec![0u16; groups * nb * kind.scales()];
        let mut quants = vec![Line([0; 64]); groups * nb * kind.lines()];
        let ts = ty.type_size();
        let report_every = (1 << 20) / (nb * ts).max(1) + 1;
        for r in 0..rows {
            if r > 0 && r % report_every == 0 {
                consumed(r * nb * ts);
            }
            let (g, lane) = (r / GROUP, r % GROUP);
            let row = &data[r * nb * ts..(r + 1) * nb * ts];
            for (b, block) in row.chunks_exact(ts).enumerate() {
                let col = g * nb + b;
                let sc = &mut scales[col * kind.scales()..(col + 1) * kind.scales()];
                let lines = &mut quants[col * kind.lines()..(col + 1) * kind.lines()];
                let half = |at: usize| u16::from_le_bytes([block[at], block[at + 1]]);
                sc[lane] = half(0);
                match kind {
                    PackedKind::Q4_0 => {
                        lines[0].0[lane * 16..][..16].copy_from_slice(&block[2..18])
                    }
                    PackedKind::Q4_1 => {
                        sc[GROUP + lane] = half(2);
                        lines[0].0[lane * 16..][..16].copy_from_slice(&block[4..20]);
                    }
                    PackedKind::Q8_0 => {
                        let dst = &mut lines[lane / 2].0[(lane % 2) * 32..][..32];
                        for (d, &w) in dst.iter_mut().zip(&block[2..34]) {
                            *d = w ^ 0x80;
                        }
                    }
                }
            }
        }
        consumed(data.len());
        Some(Self {
            kind,
            rows,
            cols,
            nb,
            scales,
            quants,
        })
    }

    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    /// Bytes held by the packed weights.
    pub fn bytes(&self) -> usize {
        self.scales.len() * 2 + self.quants.len() * 64
    }

    /// The original GGUF type.
    pub fn ggml_type(&self) -> GgmlType {
        self.kind.ggml()
    }

    /// Dequantizes row `r` into `out` (`cols` long), e.g. for an embedding lookup.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (g, lane) = (r / GROUP, r % GROUP);
        for (b, y) in out.chunks_exact_mut(Q8_BLOCK).enumerate() {
            let col = g * self.nb + b;
            let sc = &self.scales[col * self.kind.scales()..];
            let d = half::f16::from_bits(sc[lane]).to_f32();
            let lines = &self.quants[col * self.kind.lines()..];
            match self.kind {
                PackedKind::Q4_0 | PackedKind::Q4_1 => {
                    let (scale, offset) = match self.kind {
                        PackedKind::Q4_1 => (d, half::f16::from_bits(sc[GROUP + lane]).to_f32()),
                        _ => (d, -8.0 * d),
                    };
                    let qs = &lines[0].0[lane * 16..][..16];
                    for j in 0..16 {
                        y[j] = (qs[j] & 0x0F) as f32 * scale + offset;
                        y[j + 16] = (qs[j] >> 4) as f32 * scale + offset;
                    }
                }
                PackedKind::Q8_0 => {
                    let qs = &lines[lane / 2].0[(lane % 2) * 32..][..32];
                    for (v, &u) in y.iter_mut().zip(qs) {
                        *v = ((u ^ 0x80) as i8) as f32 * d;
                    }
                }
            }
        }
    }

    /// `W · x` for the rows of `groups` and `n` activation rows `xq` (`n` rows of `cols / 32`
    /// blocks each). `emit(t, r, values)` receives the outputs of rows `r..r + 4` for input
    /// `t`; values past `rows` are padding.
    pub fn gemm(
        &self,
        isa: Isa,
        groups: Range<usize>,
        xq: &[Q8Block],
        n: usize,
        mut emit: impl FnMut(usize, usize, [f32; GROUP]),
    ) {
        let nb = self.nb;
        assert!(xq.len() >= n * nb, "activations shorter than n rows");
        assert!(groups.end <= self.groups(), "group range out of bounds");
        for g in groups {
            let mut t = 0;
            while t + 4 <= n {
                let out = self.tile::<4>(isa, g, xq, t);
                for (i, o) in out.into_iter().enumerate() {
                    emit(t + i, g * GROUP, o);
                }
                t += 4;
            }
            while t < n {
                let [o] = self.tile::<1>(isa, g, xq, t);
                emit(t, g * GROUP, o);
                t += 1;
            }
        }
    }

    /// Tiles of 16 rows (4 groups; the last may hold fewer).
    pub fn row_tiles(&self) -> usize {
        self.groups().div_ceil(TILE / GROUP)
    }

    /// [`Self::gemm`] on AMX for the rows of the 16-row `tiles` and every token of `x`
    /// (prepared from the same activations). Only when [`amx_available`].
    pub fn gemm_amx(
        &self,
        tiles: Range<usize>,
        x: &TokenTiles,
        mut emit: impl FnMut(usize, usize, [f32; GROUP]),
    ) {
        assert!(amx_available(), "AMX kernels called on a CPU without AMX");
        assert!(tiles.end <= self.row_tiles(), "tile range out of bounds");
        #[cfg(target_arch = "x86_64")]
        for tile in tiles {
            let per = TILE / GROUP;
            let (g0, g1) = (tile * per, ((tile + 1) * per).min(self.groups()));
            let (ns, nl) = (self.nb * self.kind.scales(), self.nb * self.kind.lines());
            let sc = &self.scales[g0 * ns..g1 * ns];
            let qs = &self.quants[g0 * nl..g1 * nl];
            // SAFETY: AMX is available (asserted); the slices hold `g1 - g0` groups.
            unsafe {
                amx::gemm_rows(self.kind, sc, qs, g1 - g0, self.nb, x, |t, r, v| {
                    emit(t, g0 * GROUP + r, v)
                })
            };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (tiles, x, &mut emit);
    }

    /// One group times `T` activation rows starting at row `t0`.
    #[inline]
    fn tile<const T: usize>(
        &self,
        isa: Isa,
        g: usize,
        xq: &[Q8Block],
        t0: usize,
    ) -> [[f32; GROUP]; T] {
        let nb = self.nb;
        let ys: [&[Q8Block]; T] = std::array::from_fn(|i| &xq[(t0 + i) * nb..(t0 + i + 1) * nb]);
        let sc = &self.scales[g * nb * self.kind.scales()..(g + 1) * nb * self.kind.scales()];
        let qs = &self.quants[g * nb * self.kind.lines()..(g + 1) * nb * self.kind.lines()];
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni if avx512::available() => {
                // SAFETY: the CPU has the features `avx512::available` checks; the slices
                // hold exactly `nb` block columns for every kernel.
                unsafe {
                    match self.kind {
                        PackedKind::Q4_0 => avx512::q4::<8, T>(sc, qs, ys),
                        PackedKind::Q4_1 => avx512::q4::<0, T>(sc, qs, ys),
                        PackedKind::Q8_0 => avx512::q8::<T>(sc, qs, ys),
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni if avx2::available() => {
                // SAFETY: as above, for AVX2.
                unsafe {
                    match self.kind {
                        PackedKind::Q4_0 => avx2::q4::<8, T>(sc, qs, ys),
                        PackedKind::Q4_1 => avx2::q4::<0, T>(sc, qs, ys),
                        PackedKind::Q8_0 => avx2::q8::<T>(sc, qs, ys),
                    }
                }
            }
            _ => match self.kind {
                PackedKind::Q4_0 => portable::q4::<8, T>(sc, qs, ys),
                PackedKind::Q4_1 => portable::q4::<0, T>(sc, qs, ys),
                PackedKind::Q8_0 => portable::q8::<T>(sc, qs, ys),
            },
        }
    }
}
