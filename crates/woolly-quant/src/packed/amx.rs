//! Tiled prefill kernels: 16 weight rows times 16 tokens per step, one 32-value block at a
//! time (every block has its own scales), with the scaling done in AVX-512. On AMX one
//! `tdpbusd` forms a step's integer products; on AVX-512 CPUs without AMX, 128 `vpdpbusd`
//! form the same exact sums, so both agree to the bit with each other and with the decode
//! kernels of [`super::avx512`].
//!
//! The weight rows of a tile are unpacked once into a per-thread panel (A tiles: 16 rows
//! of 32 unsigned bytes per block), the activations come prepared as [`TokenTiles`].
//! Rust has no stable AMX intrinsics, so the tile instructions are inline assembly; the
//! tile registers are used only here: tmm0 = C (16 x 16 i32), tmm1 = A, tmm2 = B.

use super::tiles::{BTile, Lanes, TokenTiles, TILE};
use super::{Line, PackedKind, GROUP};

/// Blocks per K-quant super-block.
const SUB: usize = 8;
use std::arch::asm;
use std::arch::x86_64::*;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Whether the kernels may run: the hardware and OS allow them and so does the cap.
pub fn available() -> bool {
    crate::cpu::allows(crate::CpuFeatures::Amx) && detected()
}

/// Whether the CPU has AMX-INT8 and the OS lets this process use the tile registers.
pub fn detected() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: cpuid leaf 7 exists on every x86_64 CPU with AVX-512.
        #[allow(unused_unsafe)]
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        let (tile, int8) = (leaf7.edx >> 24 & 1 == 1, leaf7.edx >> 25 & 1 == 1);
        tile && int8 && super::avx512::detected() && request_permission()
    })
}

/// Linux hands out the (8 KiB) tile state only on request: `arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`, once per process.
#[cfg(target_os = "linux")]
fn request_permission() -> bool {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let ret: i64;
    // SAFETY: a plain system call; it changes nothing but this process's permissions.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_ARCH_PRCTL => ret,
            in("rdi") ARCH_REQ_XCOMP_PERM,
            in("rsi") XFEATURE_XTILEDATA,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret == 0
}

#[cfg(not(target_os = "linux"))]
fn request_permission() -> bool {
    false
}

/// Palette 1 with the tiles' shapes (bytes 16.. are the widths, 48.. the heights):
/// tmm0..3 = C (16 rows x 16 i32), one per run of 16 tokens; tmm4 = A (16 x 32 bytes);
/// tmm5..7 = B (8 x 64 bytes), rotated so a load need not wait for the previous product.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

const CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        let (width, height) = match t {
            0..=3 => (64, 16),
            4 => (32, 16),
            _ => (64, 8),
        };
        c[16 + 2 * t] = width;
        c[48 + t] = height;
        t += 1;
    }
    TileConfig(c)
};

/// Runs of 16 tokens one call handles: one C tile each.
const MAX_TOKEN_TILES: usize = 4;

/// Partial sums a K-quant row keeps (one per block modulo 4).
const PARTS: usize = 4;

/// A tile's weight rows, unpacked: `[block][16 rows][32 bytes]` and the rows' scales; and
/// the stored C tiles of two blocks (kept here so no call zeroes 8 KiB of stack).
struct Panel {
    a: Vec<Line>,
    dw: Vec<Lanes>,
    mw: Vec<Lanes>,
    c: [[CTile; MAX_TOKEN_TILES]; 2],
}

impl Default for Panel {
    fn default() -> Self {
        Self {
            a: Vec::new(),
            dw: Vec::new(),
            mw: Vec::new(),
            c: [[CTile([0; TILE * TILE]); MAX_TOKEN_TILES]; 2],
        }
    }
}

thread_local! {
    static PANEL: RefCell<Panel> = RefCell::new(Panel::default());
}

/// The C tile as stored: 16 rows (weight rows) of 16 i32 (tokens).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct CTile([i32; TILE * TILE]);

/// `tmm$c = tmm4 . B`, with B loaded into `tmm$b` from `$ptr`.
macro_rules! tile_dot {
    ($c:literal, $b:literal, $ptr:expr) => {
        asm!(
            concat!("tileloadd tmm", $b, ", [{p} + {stride}]"),
            concat!("tilezero tmm", $c),
            concat!("tdpbusd tmm", $c, ", tmm4, tmm", $b),
            p = in(reg) $ptr,
            stride = in(reg) 64usize,
            options(nostack),
        )
    };
}

/// Stores `tmm$c` to `$ptr` (a [`CTile`]).
macro_rules! tile_store {
    ($c:literal, $ptr:expr) => {
        asm!(
            concat!("tilestored [{p} + {stride}], tmm", $c),
            p = in(reg) $ptr,
            stride = in(reg) 64usize,
            options(nostack),
        )
    };
}

/// Consecutive 4-row groups of a packed matrix: their scales, sub-block bytes and lines.
pub struct Groups<'a> {
    pub count: usize,
    pub sc: &'a [u16],
    pub subs: &'a [u8],
    pub qs: &'a [Line],
}

/// The `w.count` (1 to 4) groups, `nb` block columns each, times every token of `x`, the
/// products formed on AMX when `AMX` else with AVX-512 VNNI. `emit(t, r, values)`
/// gets rows `r..r + 4` (relative to the first group) for token `t`.
///
/// The rows are unpacked once, then taken through the tokens up to 64 at a time. For each
/// block the products of every run of 16 tokens go to their own C tile, and the stored
/// products of the previous block are scaled meanwhile, so the tile unit and the vector
/// unit overlap instead of waiting on each other.
///
/// # Safety
/// [`available`] must be true with `AMX`, else [`super::avx512::available`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub unsafe fn gemm_rows<const AMX: bool>(
    kind: PackedKind,
    w: Groups,
    nb: usize,
    x: &TokenTiles,
    mut emit: impl FnMut(usize, usize, [f32; GROUP]),
) {
    let (groups, units) = (w.count, nb * super::Q8_BLOCK / kind.unit());
    assert!((1..=TILE / GROUP).contains(&groups) && x.blocks() == nb);
    assert!(w.sc.len() >= groups * units * kind.scales());
    assert!(w.qs.len() >= groups * units * kind.lines());
    assert!(w.subs.len() >= groups * units * kind.subs());
    PANEL.with_borrow_mut(|panel| {
        // SAFETY: the caller checked the CPU; the slices were checked above.
        unsafe { unpack(panel, kind, &w, nb) };
        let sums = if kind == PackedKind::Q4_1 {
            &x.s
        } else {
            &x.sx
        };
        let parts = if matches!(kind, PackedKind::Q4K | PackedKind::Q5K) {
            PARTS
        } else {
            1
        };
        if AMX {
            // SAFETY: AMX is available and permitted (`available`); the config is 64 bytes.
            unsafe { asm!("ldtilecfg [{}]", in(reg) CONFIG.0.as_ptr(), options(nostack)) };
        }
        for first in (0..x.token_tiles()).step_by(MAX_TOKEN_TILES) {
            let tts = (x.token_tiles() - first).min(MAX_TOKEN_TILES);
            // K-quants sum every fourth block apart, as their AVX-512 decode kernel does.
            let mut acc = [[[Lanes::default(); TILE]; MAX_TOKEN_TILES]; PARTS];
            for b in 0..=nb {
                if b < nb && !AMX {
                    for tt in 0..tts {
                        let bt = &x.tiles[(first + tt) * nb + b];
                        // SAFETY: the panel holds 8 lines (16 rows x 32 bytes) per block.
                        unsafe {
                            vnni_tile(panel.a.as_ptr().add(b * 8), bt, &mut panel.c[b % 2][tt])
                        };
                    }
                } else if b < nb {
                    let out = panel.c[b % 2].as_mut_ptr();
                    let bt = |tt: usize| x.tiles[(first + tt) * nb + b].0.as_ptr();
                    // SAFETY: the panel holds 8 lines per block (16 rows x 32 bytes), a B tile
                    // 512 bytes, a CTile 1 KiB: the shapes of CONFIG.
                    unsafe {
                        asm!(
                            "tileloadd tmm4, [{a} + {stride}]",
                            a = in(reg) panel.a.as_ptr().add(b * 8),
                            stride = in(reg) 32usize,
                            options(nostack),
                        );
                        tile_dot!(0, 5, bt(0));
                        if tts > 1 {
                            tile_dot!(1, 6, bt(1));
                        }
                        if tts > 2 {
                            tile_dot!(2, 7, bt(2));
                        }
                        if tts > 3 {
                            tile_dot!(3, 5, bt(3));
                        }
                        tile_store!(0, out);
                        if tts > 1 {
                            tile_store!(1, out.add(1));
                        }
                        if tts > 2 {
                            tile_store!(2, out.add(2));
                        }
                        if tts > 3 {
                            tile_store!(3, out.add(3));
                        }
                    }
                }
                if b > 0 {
                    let (b, dw) = (b - 1, &panel.dw[b - 1].0);
                    for tt in 0..tts {
                        let (i, dots) = ((first + tt) * nb + b, &panel.c[b % 2][tt]);
                        // SAFETY: `Lanes` and CTile rows are 16 aligned f32 / i32.
                        unsafe {
                            let dx = _mm512_load_ps(x.d[i].0.as_ptr());
                            for (m, acc) in acc[b % parts][tt].iter_mut().enumerate() {
                                let dot =
                                    _mm512_load_si512(dots.0.as_ptr().add(m * TILE) as *const _);
                                let scale = _mm512_mul_ps(_mm512_set1_ps(dw[m]), dx);
                                let a = _mm512_load_ps(acc.0.as_ptr());
                                let a = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), scale, a);
                                _mm512_store_ps(acc.0.as_mut_ptr(), a);
                            }
                        }
                    }
                }
            }
            // The offsets, summed apart and added last, as the AVX-512 kernels do.
            let mut total = [[Lanes::default(); TILE]; MAX_TOKEN_TILES];
            for (tt, total) in total.iter_mut().enumerate().take(tts) {
                let mut mins = [[_mm512_setzero_ps(); TILE]; PARTS];
                for b in 0..nb {
                    let mw = &panel.mw[b].0;
                    // SAFETY: `Lanes` is 16 aligned f32.
                    let s = unsafe { _mm512_load_ps(sums[(first + tt) * nb + b].0.as_ptr()) };
                    for (m, min) in mins[b % parts].iter_mut().enumerate() {
                        *min = _mm512_fmadd_ps(_mm512_set1_ps(mw[m]), s, *min);
                    }
                }
                for (m, total) in total.iter_mut().enumerate() {
                    // SAFETY: `Lanes` is 16 aligned f32.
                    let part = |p: usize| unsafe { _mm512_load_ps(acc[p][tt][m].0.as_ptr()) };
                    let (a, min) = if parts == 1 {
                        (part(0), mins[0][m])
                    } else {
                        let sum = |v: [__m512; PARTS]| {
                            _mm512_add_ps(_mm512_add_ps(v[0], v[1]), _mm512_add_ps(v[2], v[3]))
                        };
                        (
                            sum([0, 1, 2, 3].map(part)),
                            sum([0, 1, 2, 3].map(|p| mins[p][m])),
                        )
                    };
                    // SAFETY: `Lanes` is 16 aligned f32.
                    unsafe { _mm512_store_ps(total.0.as_mut_ptr(), _mm512_add_ps(a, min)) };
                }
            }
            for (tt, acc) in total.iter().enumerate().take(tts) {
                let t0 = (first + tt) * TILE;
                for j in 0..TILE.min(x.n() - t0) {
                    for g in 0..groups {
                        let values = std::array::from_fn(|k| acc[g * GROUP + k].0[j]);
                        emit(t0 + j, g * GROUP, values);
                    }
                }
            }
        }
        if AMX {
            // SAFETY: hands the tile state back, so context switches stop saving it.
            unsafe { asm!("tilerelease", options(nostack, nomem)) };
        }
    });
}

/// One C tile with `vpdpbusd`: the 16 unpacked weight rows of a block (`a`: 8 lines, 32
/// bytes a row) times the block's 16 tokens in `b`, whose row `i` holds each token's bytes
/// `4i..4i + 4`: row `m`'s bytes `4i..4i + 4`, broadcast, meet it in one instruction.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn vnni_tile(a: *const Line, b: &BTile, c: &mut CTile) {
    let a = a as *const i32;
    let mut bv = [_mm512_setzero_si512(); 8];
    for (i, v) in bv.iter_mut().enumerate() {
        // SAFETY: a B tile is 8 aligned 64-byte rows.
        *v = unsafe { _mm512_load_si512(b.0.as_ptr().add(64 * i) as *const _) };
    }
    // Eight rows at a time: eight independent sums keep the unit busy.
    for m0 in (0..TILE).step_by(8) {
        let mut acc = [_mm512_setzero_si512(); 8];
        for (i, bv) in bv.iter().enumerate() {
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: the caller passes 16 rows of 8 dwords.
                let w = _mm512_set1_epi32(unsafe { a.add((m0 + r) * 8 + i).read() });
                *acc = _mm512_dpbusd_epi32(*acc, w, *bv);
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: a C tile is 16 aligned rows of 16 i32.
            unsafe { _mm512_store_si512(c.0.as_mut_ptr().add((m0 + r) * TILE) as *mut _, *acc) };
        }
    }
}

/// Unpacks the groups' quants into unsigned bytes in the A-tile layout, and their scales
/// into `d` and the offset multiplier of [`super`]'s formula, zero past the last group.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn unpack(p: &mut Panel, kind: PackedKind, w: &Groups, nb: usize) {
    let (sc, subs, qs, groups) = (w.sc, w.subs, w.qs, w.count);
    p.a.resize(nb * 8, Line([0; 64]));
    p.dw.resize(nb, Lanes::default());
    p.mw.resize(nb, Lanes::default());
    let mask = _mm512_set1_epi8(0x0F);
    // Rows 0 and 1, then 2 and 3: each row's low-nibble lane followed by its high one.
    let rows01 = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
    let rows23 = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
    for b in 0..nb {
        for g in 0..TILE / GROUP {
            let dst = &mut p.a[b * 8 + g * 2..][..2];
            if g >= groups {
                dst.fill(Line([0; 64]));
                for lane in 0..GROUP {
                    p.dw[b].0[g * GROUP + lane] = 0.0;
                    p.mw[b].0[g * GROUP + lane] = 0.0;
                }
                continue;
            }
            let col = g * nb + b;
            // The nibble line of this block column (K-quants: in its super-block's unit).
            let (units, u, j) = (nb / SUB, b / SUB, b % SUB);
            let (line, fifth) = match kind {
                PackedKind::Q4K => (&qs[(g * units + u) * 8 + j], None),
                PackedKind::Q5K => {
                    let quad = (g * units + u) * 10 + j / 4 * 5;
                    (&qs[quad + j % 4], Some((&qs[quad + 4], j % 4)))
                }
                _ => (&qs[col], None),
            };
            if kind == PackedKind::Q8_0 {
                dst.copy_from_slice(&qs[col * 2..col * 2 + 2]);
            } else {
                // SAFETY: lines are 64-byte aligned.
                unsafe {
                    let w = _mm512_load_si512(line.0.as_ptr() as *const _);
                    let mut lo = _mm512_and_si512(w, mask);
                    let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), mask);
                    if let Some((high, c)) = fifth {
                        // Bits 2c and 2c + 1 of each byte: the fifth bits of values k, k + 16.
                        let h = _mm512_load_si512(high.0.as_ptr() as *const _);
                        let h = _mm512_srl_epi16(h, _mm_cvtsi32_si128(2 * c as i32));
                        let bit = _mm512_set1_epi8(0x10);
                        lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16::<4>(h), bit));
                        hi = _mm512_or_si512(hi, _mm512_and_si512(_mm512_slli_epi16::<3>(h), bit));
                    }
                    let (r01, r23) = (
                        _mm512_permutex2var_epi64(lo, rows01, hi),
                        _mm512_permutex2var_epi64(lo, rows23, hi),
                    );
                    _mm512_store_si512(dst[0].0.as_mut_ptr() as *mut _, r01);
                    _mm512_store_si512(dst[1].0.as_mut_ptr() as *mut _, r23);
                }
            }
            // SAFETY: a block column has 4 (Q4_0, Q8_0) or 8 (Q4_1) scales, a K-quant unit 8
            // and 8 sub-block bytes per block column.
            unsafe {
                let (d, m) = match kind {
                    PackedKind::Q4K | PackedKind::Q5K => {
                        // As the decode kernels form them: d sc and -(dmin m).
                        let s = sc.as_ptr().add((g * units + u) * 8) as *const __m128i;
                        let dm = _mm256_cvtph_ps(_mm_loadu_si128(s));
                        let s8 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(
                            subs.as_ptr().add(col * 2 * GROUP) as *const _,
                        ));
                        let dmb = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(s8));
                        let m = _mm256_extractf128_ps::<1>(dmb);
                        (_mm256_castps256_ps128(dmb), _mm_sub_ps(_mm_setzero_ps(), m))
                    }
                    PackedKind::Q4_1 => {
                        let s = sc.as_ptr().add(col * kind.scales()) as *const __m128i;
                        let dm = _mm256_cvtph_ps(_mm_loadu_si128(s));
                        (_mm256_castps256_ps128(dm), _mm256_extractf128_ps::<1>(dm))
                    }
                    _ => {
                        let s = sc.as_ptr().add(col * kind.scales()) as *const __m128i;
                        let d = _mm_cvtph_ps(_mm_loadl_epi64(s));
                        let off = if kind == PackedKind::Q4_0 {
                            -8.0
                        } else {
                            -128.0
                        };
                        (d, _mm_mul_ps(d, _mm_set1_ps(off)))
                    }
                };
                _mm_storeu_ps(p.dw[b].0.as_mut_ptr().add(g * GROUP), d);
                _mm_storeu_ps(p.mw[b].0.as_mut_ptr().add(g * GROUP), m);
            }
        }
    }
}
