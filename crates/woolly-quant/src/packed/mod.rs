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
//! - K-quants: per 256-value super-block, the rows' f16 `d` (and `dmin`: Q4_K, Q5_K),
//!   their 6-bit sub-block scales (and mins) decoded to bytes in `subs` (8 per block
//!   column: rows 0..3's first, then their second), and the low 4 bits of every value in
//!   nibble lines as Q4_0's; the fifth bits (Q5_K: one line per 4 block columns) and the
//!   fifth and sixth bits (Q6_K: one line per 2) follow in lines of their own.
//! - Q5_0: four blocks per unit: their nibble lines as Q4_0's, then one line of fifth bits
//!   (byte `k` of a row's 16 holds bits `2c` (value `k`) and `2c + 1` (value `k + 16`) of
//!   block `c`, as Q5_K's), and the rows' f16 scales block by block.
//! - IQ4_NL / IQ4_XS: Q4_0's layout with the nibbles indexing the non-linear grid; IQ4_XS
//!   adds one signed byte per block column and row in `subs`, its scale less 32.
//!
//! Every kernel computes `d_w * d_x * sum(u * q) + m_w * s_x` per block, where `u` are the
//! unsigned stored weights and `m_w` is Q4_1's min, or `-8 d` (Q4_0) / `-128 d` (Q8_0). A
//! K-quant block's `d_w` is `d * sc` and its `m_w` is `-dmin * m` (Q4_K, Q5_K); Q6_K's two
//! 16-value halves are scaled as integers, `sc_a * sum_a(u q) + sc_b * sum_b(u q)` with
//! `u - 32` in place of `u`, before the one float step `d * d_x * (...)`.

#[cfg(target_arch = "x86_64")]
mod amx;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx2_k;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avx512_k;
#[cfg(target_arch = "aarch64")]
mod neon;
mod pack;
mod portable;
mod tiles;

use super::dot::{Q8Block, Q8_BLOCK};
use super::{GgmlType, QK_K};
use std::ops::Range;
pub use tiles::{TokenTiles, TILE};

/// Whether the CPU has AMX-INT8, the OS allows it, and so does the [cap](super::cpu).
pub fn amx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return amx::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether [`PackedMatrix::gemm_tiled`] can run: AMX, or AVX-512 VNNI (under the cap).
pub fn tiled_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return amx::available() || avx512::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Whether the AVX2 + FMA + F16C kernels may run (the CPU has them, the cap allows them):
/// the one gate of every AVX2 loop, packed or not.
#[cfg(target_arch = "x86_64")]
pub use avx2::available as avx2_available;

/// The kernels `isa` and `amx` name, as the app, `woolly info` and `bench` show them.
pub fn kernels_name(isa: Isa, amx: bool) -> String {
    if amx {
        format!("{} + AMX", isa.name())
    } else {
        isa.name().to_string()
    }
}

// What the CPU has, whatever the cap (for [`super::CpuFeatures::detected`]).
#[cfg(target_arch = "x86_64")]
pub(super) use avx512::detected as avx512_detected;
#[cfg(target_arch = "aarch64")]
pub(super) use neon::{dotprod_detected, i8mm_detected};
#[cfg(target_arch = "x86_64")]
pub(super) use {amx::detected as amx_detected, avx2::detected as avx2_detected};

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
    Q5_0,
    Q8_0,
    Q4K,
    Q5K,
    Q6K,
    IQ4NL,
    IQ4XS,
}

impl PackedKind {
    pub fn of(ty: GgmlType) -> Option<Self> {
        match ty {
            GgmlType::Q4_0 => Some(Self::Q4_0),
            GgmlType::Q4_1 => Some(Self::Q4_1),
            GgmlType::Q5_0 => Some(Self::Q5_0),
            GgmlType::Q8_0 => Some(Self::Q8_0),
            GgmlType::Q4K => Some(Self::Q4K),
            GgmlType::Q5K => Some(Self::Q5K),
            GgmlType::Q6K => Some(Self::Q6K),
            GgmlType::IQ4NL => Some(Self::IQ4NL),
            GgmlType::IQ4XS => Some(Self::IQ4XS),
            _ => None,
        }
    }

    /// Values per unit of the layout: a block, a K-quant super-block, or (Q5_0) four
    /// blocks, whose fifth bits share a line.
    fn unit(self) -> usize {
        match self {
            Self::Q5_0 => 4 * Q8_BLOCK,
            _ => self.ggml().block_size(),
        }
    }

    /// f16 scales per unit of a group.
    fn scales(self) -> usize {
        match self {
            Self::Q4_1 | Self::Q4K | Self::Q5K => 2 * GROUP,
            Self::Q4_0 | Self::Q8_0 | Self::Q6K | Self::IQ4NL | Self::IQ4XS => GROUP,
            Self::Q5_0 => 4 * GROUP,
        }
    }

    /// Bytes of sub-block scales per unit of a group (K-quants: 8 per 32 values, IQ4_XS:
    /// 4).
    fn subs(self) -> usize {
        match self {
            Self::Q4K | Self::Q5K | Self::Q6K => 2 * GROUP * QK_K / Q8_BLOCK,
            Self::IQ4XS => GROUP * QK_K / Q8_BLOCK,
            Self::Q4_0 | Self::Q4_1 | Self::Q5_0 | Self::Q8_0 | Self::IQ4NL => 0,
        }
    }

    /// 64-byte lines per unit of a group.
    fn lines(self) -> usize {
        match self {
            Self::Q4_0 | Self::Q4_1 | Self::IQ4NL => 1,
            Self::Q8_0 => 2,
            Self::Q4K | Self::IQ4XS => 8,
            Self::Q5_0 => 5,
            Self::Q5K => 10,
            Self::Q6K => 12,
        }
    }

    /// Whether this layout has AVX-512 kernels. The others run their AVX2 kernels on
    /// AVX-512 CPUs too, prefill included.
    pub fn has_avx512(self) -> bool {
        matches!(
            self,
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 | Self::Q4K | Self::Q5K | Self::Q6K
        )
    }

    /// Whether this layout has tiled prefill kernels ([`PackedMatrix::gemm_tiled`]; the
    /// others prefill with their AVX-512 or AVX2 kernels).
    pub fn has_tiled(self) -> bool {
        matches!(
            self,
            Self::Q4_0 | Self::Q4_1 | Self::Q8_0 | Self::Q4K | Self::Q5K
        )
    }

    fn ggml(self) -> GgmlType {
        match self {
            Self::Q4_0 => GgmlType::Q4_0,
            Self::Q4_1 => GgmlType::Q4_1,
            Self::Q5_0 => GgmlType::Q5_0,
            Self::Q8_0 => GgmlType::Q8_0,
            Self::Q4K => GgmlType::Q4K,
            Self::Q5K => GgmlType::Q5K,
            Self::Q6K => GgmlType::Q6K,
            Self::IQ4NL => GgmlType::IQ4NL,
            Self::IQ4XS => GgmlType::IQ4XS,
        }
    }
}

/// The instruction set the kernels run with: the best the CPU has under the
/// [cap](super::cpu).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    Avx512Vnni,
    Avx2,
    /// NEON with `sdot`, and `smmla` for prefill.
    NeonI8mm,
    /// NEON with `sdot`.
    NeonDot,
    Neon,
    Portable,
}

impl Isa {
    pub fn detect() -> Self {
        Self::all_available()[0]
    }

    /// Every instruction set this CPU can run under the cap, best first (for tests and
    /// benchmarks).
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
        #[cfg(target_arch = "aarch64")]
        {
            use neon::{available, Variant};
            for (variant, isa) in [
                (Variant::I8mm, Isa::NeonI8mm),
                (Variant::Dot, Isa::NeonDot),
                (Variant::Neon, Isa::Neon),
            ] {
                if available(variant) {
                    all.push(isa);
                }
            }
        }
        all.push(Isa::Portable);
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "AVX-512 VNNI",
            Self::Avx2 => "AVX2",
            Self::NeonI8mm => "NEON i8mm",
            Self::NeonDot => "NEON dotprod",
            Self::Neon => "NEON",
            Self::Portable => "portable",
        }
    }
}

/// A `rows x cols` matrix in the interleaved layout above.
pub struct PackedMatrix {
    pub kind: PackedKind,
    pub rows: usize,
    pub cols: usize,
    /// 32-value blocks per row.
    nb: usize,
    /// Units ([`PackedKind::unit`]) per row.
    units: usize,
    scales: Vec<u16>,
    /// The K-quants' sub-block scales (and mins), decoded to a byte each.
    subs: Vec<u8>,
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
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    /// Bytes held by the packed weights.
    pub fn bytes(&self) -> usize {
        self.scales.len() * 2 + self.subs.len() + self.quants.len() * 64
    }

    /// The original GGUF type.
    pub fn ggml_type(&self) -> GgmlType {
        self.kind.ggml()
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

    /// [`Self::gemm`] for the rows of the 16-row `tiles` and every token of `x` (prepared
    /// from the same activations), on AMX or AVX-512 VNNI, bit for bit what [`Self::gemm`]
    /// gives with [`Isa::Avx512Vnni`]. Only when [`tiled_available`].
    pub fn gemm_tiled(
        &self,
        tiles: Range<usize>,
        x: &TokenTiles,
        mut emit: impl FnMut(usize, usize, [f32; GROUP]),
    ) {
        assert!(
            tiled_available(),
            "tiled kernels called on a CPU without AVX-512 VNNI"
        );
        assert!(
            self.kind.has_tiled(),
            "no tiled kernels for {:?}",
            self.kind
        );
        assert!(tiles.end <= self.row_tiles(), "tile range out of bounds");
        #[cfg(target_arch = "x86_64")]
        for tile in tiles {
            let per = TILE / GROUP;
            let (g0, g1) = (tile * per, ((tile + 1) * per).min(self.groups()));
            let (ns, nl) = (
                self.units * self.kind.scales(),
                self.units * self.kind.lines(),
            );
            let sc = &self.scales[g0 * ns..g1 * ns];
            let qs = &self.quants[g0 * nl..g1 * nl];
            let nsub = self.units * self.kind.subs();
            let subs = &self.subs[g0 * nsub..g1 * nsub];
            let to_rows = |t, r, v| emit(t, g0 * GROUP + r, v);
            let w = amx::Groups {
                count: g1 - g0,
                sc,
                subs,
                qs,
            };
            // SAFETY: AMX or AVX-512 VNNI is available (asserted); the slices hold
            // `g1 - g0` groups.
            unsafe {
                if amx::available() {
                    amx::gemm_rows::<true>(self.kind, w, self.nb, x, to_rows)
                } else {
                    amx::gemm_rows::<false>(self.kind, w, self.nb, x, to_rows)
                }
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
        let (nb, kind) = (self.nb, self.kind);
        let ys: [&[Q8Block]; T] = std::array::from_fn(|i| &xq[(t0 + i) * nb..(t0 + i + 1) * nb]);
        let (at, units) = (g * self.units, self.units);
        let sc = &self.scales[at * kind.scales()..][..units * kind.scales()];
        let subs = &self.subs[at * kind.subs()..][..units * kind.subs()];
        let qs = &self.quants[at * kind.lines()..][..units * kind.lines()];
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni if avx512::available() && kind.has_avx512() => {
                // SAFETY: the CPU has the features `avx512::available` checks; the slices
                // hold exactly `nb` block columns for every kernel.
                unsafe {
                    match kind {
                        PackedKind::Q4_0 => avx512::q4::<8, T>(sc, qs, ys),
                        PackedKind::Q4_1 => avx512::q4::<0, T>(sc, qs, ys),
                        PackedKind::Q4K => avx512_k::q4k::<false, T>(sc, subs, qs, ys),
                        PackedKind::Q5K => avx512_k::q4k::<true, T>(sc, subs, qs, ys),
                        PackedKind::Q6K => avx512_k::q6k::<T>(sc, subs, qs, ys),
                        _ => avx512::q8::<T>(sc, qs, ys),
                    }
                }
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512Vnni if avx2::available() => {
                // SAFETY: as above, for AVX2; the K-quant slices hold `units` super-blocks.
                unsafe {
                    match kind {
                        PackedKind::Q4_0 => avx2::q4::<8, T>(sc, qs, ys),
                        PackedKind::Q4_1 => avx2::q4::<0, T>(sc, qs, ys),
                        PackedKind::Q5_0 => avx2::q5::<T>(sc, qs, ys),
                        PackedKind::Q8_0 => avx2::q8::<T>(sc, qs, ys),
                        PackedKind::Q4K => avx2_k::q4k::<false, T>(sc, subs, qs, ys),
                        PackedKind::Q5K => avx2_k::q4k::<true, T>(sc, subs, qs, ys),
                        PackedKind::Q6K => avx2_k::q6k::<T>(sc, subs, qs, ys),
                        PackedKind::IQ4NL => avx2_k::iq4::<false, T>(sc, subs, qs, ys),
                        PackedKind::IQ4XS => avx2_k::iq4::<true, T>(sc, subs, qs, ys),
                    }
                }
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm if neon::available(neon::Variant::I8mm) => {
                // SAFETY: the CPU has FEAT_I8MM and FEAT_DotProd; the slices are cut as above.
                unsafe { neon::tile_i8mm::<T>(kind, sc, subs, qs, ys) }
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm | Isa::NeonDot if neon::available(neon::Variant::Dot) => {
                // SAFETY: the CPU has FEAT_DotProd; the slices are cut as above.
                unsafe { neon::tile_dot::<T>(kind, sc, subs, qs, ys) }
            }
            #[cfg(target_arch = "aarch64")]
            Isa::NeonI8mm | Isa::NeonDot | Isa::Neon if neon::available(neon::Variant::Neon) => {
                // SAFETY: the slices are cut as above.
                unsafe { neon::tile_neon::<T>(kind, sc, subs, qs, ys) }
            }
            _ => match kind {
                PackedKind::Q4_0 => portable::q4::<8, T>(sc, qs, ys),
                PackedKind::Q4_1 => portable::q4::<0, T>(sc, qs, ys),
                PackedKind::Q5_0 => portable::q5::<T>(sc, qs, ys),
                PackedKind::Q8_0 => portable::q8::<T>(sc, qs, ys),
                PackedKind::Q4K => portable::q4k::<false, T>(sc, subs, qs, ys),
                PackedKind::Q5K => portable::q4k::<true, T>(sc, subs, qs, ys),
                PackedKind::Q6K => portable::q6k::<T>(sc, subs, qs, ys),
                PackedKind::IQ4NL => portable::iq4::<false, T>(sc, subs, qs, ys),
                PackedKind::IQ4XS => portable::iq4::<true, T>(sc, subs, qs, ys),
            },
        }
    }
}
