//! Repacking GGUF rows into the interleaved layout, and reading a row back out.
//!
//! Each row's units are decoded once at load into the pieces the kernels stream: f16
//! scales, the K-quants' 6-bit sub-block scales as bytes, and 4-bit lines in the Q4_0
//! nibble order (byte `j` of a row's 16 holds value `j` low and value `j + 16` high).

use super::{Line, PackedKind, PackedMatrix, GROUP};
use crate::dequant::{iq4_xs_scale, k4_scale_min, IQ4_VALUES};
use crate::dot::Q8_BLOCK;
use crate::{GgmlType, QK_K};
use rayon::prelude::*;

/// 32-value blocks per K-quant super-block.
const SUB: usize = QK_K / Q8_BLOCK;

/// `n` copies of `zero`, written by every thread at once: the first touch of each fresh
/// page (a fault and the kernel's zeroing) is a third of load time, so it is spread too,
/// and huge pages (where the OS has them on request) take 512 faults down to one.
fn zeroed<T: Copy + Send + Sync>(n: usize, zero: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise_huge_pages(v.as_mut_ptr() as usize, n * std::mem::size_of::<T>());
    v.spare_capacity_mut()
        .par_chunks_mut((64 << 10) / std::mem::size_of::<T>().max(1))
        .for_each(|chunk| {
            for x in chunk {
                x.write(zero);
            }
        });
    // SAFETY: every element of the capacity was written just above.
    unsafe { v.set_len(n) };
    v
}

/// Asks Linux to back the 2 MiB-aligned part of `[start, start + len)` with huge pages.
fn advise_huge_pages(start: usize, len: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let (from, to) = (start.next_multiple_of(HUGE), (start + len) / HUGE * HUGE);
        if to > from {
            // SAFETY: advice on pages of an allocation this function's caller owns; it
            // changes how they are backed, never their contents.
            unsafe { libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE) };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// The next `n` groups of `per_group` elements each off the front of `rest` (empty
/// slices where a format has none of that element).
fn take_groups<'a, T>(rest: &mut &'a mut [T], n: usize, per_group: usize) -> Vec<&'a mut [T]> {
    (0..n)
        .map(|_| {
            let (group, tail) = std::mem::take(rest).split_at_mut(per_group);
            *rest = tail;
            group
        })
        .collect()
}

/// Where one row's unit goes: its lane's f16 scales, its group's sub-scale bytes and
/// lines for the unit.
struct Dst<'a> {
    lane: usize,
    scales: &'a mut [u16],
    subs: &'a mut [u8],
    lines: &'a mut [Line],
}

impl Dst<'_> {
    /// The lane's 16 bytes of line `line`.
    fn lane(&mut self, line: usize) -> &mut [u8] {
        &mut self.lines[line].0[self.lane * 16..][..16]
    }

    /// Writes 32 nibbles as the lane's 16 bytes of `line`: value `k` is nibble `shift / 4`
    /// of `src[k]` (values `k + 16` likewise of `src[k + 16]`).
    fn nibbles(&mut self, line: usize, src: &[u8], shift: u32) {
        let src = &src[..32];
        for (k, d) in self.lane(line).iter_mut().enumerate() {
            *d = ((src[k] >> shift) & 0x0F) | ((src[k + 16] >> shift) & 0x0F) << 4;
        }
    }

    /// Block `j`'s two sub-scale bytes of this lane: `a` at `j * 8 + lane`, `b` four on.
    fn sub(&mut self, j: usize, a: u8, b: u8) {
        self.subs[j * 2 * GROUP + self.lane] = a;
        self.subs[j * 2 * GROUP + GROUP + self.lane] = b;
    }
}

fn f16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Spreads one unit of a GGUF row into its group's layout.
fn pack_unit(kind: PackedKind, block: &[u8], mut dst: Dst) {
    let lane = dst.lane;
    match kind {
        PackedKind::Q4_0 => {
            dst.scales[lane] = f16_at(block, 0);
            dst.lines[0].0[lane * 16..][..16].copy_from_slice(&block[2..18]);
        }
        PackedKind::IQ4NL => {
            dst.scales[lane] = f16_at(block, 0);
            dst.lines[0].0[lane * 16..][..16].copy_from_slice(&block[2..18]);
        }
        PackedKind::IQ4XS => {
            dst.scales[lane] = f16_at(block, 0);
            for j in 0..SUB {
                dst.subs[j * GROUP + lane] = iq4_xs_scale(block, j) as i8 as u8;
                dst.lane(j)
                    .copy_from_slice(&block[8 + 16 * j..8 + 16 * (j + 1)]);
            }
        }
        PackedKind::Q5_0 => {
            // Four blocks: f16 d, 32 fifth bits, 16 bytes of nibbles each.
            for (c, b) in block.chunks_exact(22).enumerate() {
                dst.scales[c * GROUP + lane] = f16_at(b, 0);
                let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
                dst.lines[c].0[lane * 16..][..16].copy_from_slice(&b[6..22]);
                for (k, h) in dst.lane(4).iter_mut().enumerate() {
                    let bit = |l: usize| ((qh >> l) & 1) as u8;
                    *h |= (bit(k) | bit(k + 16) << 1) << (2 * c);
                }
            }
        }
        PackedKind::Q4_1 => {
            dst.scales[lane] = f16_at(block, 0);
            dst.scales[GROUP + lane] = f16_at(block, 2);
            dst.lines[0].0[lane * 16..][..16].copy_from_slice(&block[4..20]);
        }
        PackedKind::Q8_0 => {
            dst.scales[lane] = f16_at(block, 0);
            let out = &mut dst.lines[lane / 2].0[(lane % 2) * 32..][..32];
            for (d, &w) in out.iter_mut().zip(&block[2..34]) {
                *d = w ^ 0x80;
            }
        }
        PackedKind::Q4K | PackedKind::Q5K => {
            dst.scales[lane] = f16_at(block, 0);
            dst.scales[GROUP + lane] = f16_at(block, 2);
            let five = kind == PackedKind::Q5K;
            let (qh, qs) = if five {
                (&block[16..48], &block[48..176])
            } else {
                (&block[0..0], &block[16..144])
            };
            for j in 0..SUB {
                let (sc, m) = k4_scale_min(j, &block[4..16]);
                dst.sub(j, sc, m);
                // Blocks 2i and 2i + 1 are the low and high nibbles of 32 bytes.
                let src = &qs[32 * (j / 2)..];
                let shift = 4 * (j as u32 % 2);
                if five {
                    // Four nibble lines, then one of fifth bits: byte `k` of a lane holds
                    // bits `2c` (value `k`) and `2c + 1` (value `k + 16`) of block `c`.
                    let (quad, c) = (j / 4, j % 4);
                    dst.nibbles(quad * 5 + c, src, shift);
                    for (k, h) in dst.lane(quad * 5 + 4).iter_mut().enumerate() {
                        let bit = |l: usize| (qh[l] >> j) & 1;
                        *h |= (bit(k) | bit(k + 16) << 1) << (2 * c);
                    }
                } else {
                    dst.nibbles(j, src, shift);
                }
            }
        }
        PackedKind::Q6K => {
            dst.scales[lane] = f16_at(block, 208);
            let (ql, qh) = (&block[..128], &block[128..192]);
            for j in 0..SUB {
                dst.sub(j, block[192 + 2 * j], block[192 + 2 * j + 1]);
                // Value 32 q + l of 128-value half n: nibble `q / 2` of byte
                // `64 n + 32 (q % 2) + l` of ql, top bits `2 q` of byte `32 n + l` of qh.
                let (n, q) = (j / 4, j % 4);
                let high = &qh[32 * n..][..32];
                // Pairs of blocks: two nibble lines, then one of top bit pairs: byte `k` of a
                // lane holds those of values `k`, `k + 16` of the first block in bits 0-3,
                // of the second block in bits 4-7.
                let (pair, c) = (j / 2, j % 2);
                dst.nibbles(
                    pair * 3 + c,
                    &ql[64 * n + 32 * (q % 2)..],
                    4 * (q as u32 / 2),
                );
                for (k, h) in dst.lane(pair * 3 + 2).iter_mut().enumerate() {
                    let top = |l: usize| (high[l] >> (2 * q)) & 3;
                    *h |= (top(k) | top(k + 16) << 2) << (4 * c);
                }
            }
        }
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
        // GGUF bytes per unit of the layout (one block, or Q5_0's four).
        let (unit, ts) = (kind.unit(), ty.type_size() * kind.unit() / ty.block_size());
        if !cols.is_multiple_of(unit) || data.len() != rows * cols / unit * ts {
            return None;
        }
        let units = cols / unit;
        let groups = rows.div_ceil(GROUP);
        let per_group = [kind.scales(), kind.subs(), kind.lines()].map(|n| units * n);
        let mut scales = zeroed(groups * per_group[0], 0u16);
        let mut subs = zeroed(groups * per_group[1], 0u8);
        let mut quants = zeroed(groups * per_group[2], Line([0; 64]));
        // Waves of about 4 MiB of the file, their groups packed in parallel; after each, the
        // caller may hand the wave's pages back.
        let row_bytes = units * ts;
        let wave = ((4 << 20) / (GROUP * row_bytes).max(1)).max(1);
        let (mut sc_rest, mut sub_rest, mut q_rest) =
            (&mut scales[..], &mut subs[..], &mut quants[..]);
        for first in (0..groups).step_by(wave) {
            let n = wave.min(groups - first);
            let sc = take_groups(&mut sc_rest, n, per_group[0]);
            let su = take_groups(&mut sub_rest, n, per_group[1]);
            let q = take_groups(&mut q_rest, n, per_group[2]);
            sc.into_par_iter()
                .zip(su)
                .zip(q)
                .enumerate()
                .with_min_len(8)
                .for_each(|(i, ((sc, su), q))| {
                    let g = first + i;
                    for lane in 0..GROUP.min(rows - g * GROUP) {
                        let row = &data[(g * GROUP + lane) * row_bytes..][..row_bytes];
                        for (u, block) in row.chunks_exact(ts).enumerate() {
                            let dst = Dst {
                                lane,
                                scales: &mut sc[u * kind.scales()..][..kind.scales()],
                                subs: &mut su[u * kind.subs()..][..kind.subs()],
                                lines: &mut q[u * kind.lines()..][..kind.lines()],
                            };
                            pack_unit(kind, block, dst);
                        }
                    }
                });
            consumed((rows.min((first + n) * GROUP)) * row_bytes);
        }
        Some(Self {
            kind,
            rows,
            cols,
            nb: cols / Q8_BLOCK,
            units,
            scales,
            subs,
            quants,
        })
    }

    /// Dequantizes row `r` into `out` (`cols` long), e.g. for an embedding lookup.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let (g, lane) = (r / GROUP, r % GROUP);
        let kind = self.kind;
        let f16 = |bits: u16| half::f16::from_bits(bits).to_f32();
        for (u, y) in out.chunks_exact_mut(kind.unit()).enumerate() {
            let at = g * self.units + u;
            let sc = &self.scales[at * kind.scales()..][..kind.scales()];
            let subs = &self.subs[at * kind.subs()..][..kind.subs()];
            let lines = &self.quants[at * kind.lines()..][..kind.lines()];
            let d = f16(sc[lane]);
            // Value `i` of a lane's 32 in the nibble order.
            let nibble = |line: usize, i: usize| {
                let q = lines[line].0[lane * 16 + i % 16];
                if i < 16 {
                    q & 0x0F
                } else {
                    q >> 4
                }
            };
            let sub = |j: usize, second: usize| subs[j * 2 * GROUP + second * GROUP + lane];
            // Value `i` of block column `c` of the four-line unit at `quad` (Q5_0, Q5_K),
            // its fifth bit from the unit's fifth line.
            let five = |quad: usize, c: usize, i: usize| {
                let h = lines[quad + 4].0[lane * 16 + i % 16] >> (2 * c);
                nibble(quad + c, i) | ((h >> (i / 16)) & 1) << 4
            };
            match kind {
                PackedKind::Q4_0 | PackedKind::Q4_1 => {
                    let offset = match kind {
                        PackedKind::Q4_1 => f16(sc[GROUP + lane]),
                        _ => -8.0 * d,
                    };
                    for (i, v) in y.iter_mut().enumerate() {
                        *v = nibble(0, i) as f32 * d + offset;
                    }
                }
                PackedKind::Q5_0 => {
                    for (c, y) in y.chunks_exact_mut(Q8_BLOCK).enumerate() {
                        let d = f16(sc[c * GROUP + lane]);
                        for (i, v) in y.iter_mut().enumerate() {
                            *v = (five(0, c, i) as i32 - 16) as f32 * d;
                        }
                    }
                }
                PackedKind::Q8_0 => {
                    let qs = &lines[lane / 2].0[(lane % 2) * 32..][..32];
                    for (v, &u) in y.iter_mut().zip(qs) {
                        *v = ((u ^ 0x80) as i8) as f32 * d;
                    }
                }
                PackedKind::IQ4NL | PackedKind::IQ4XS => {
                    for (j, y) in y.chunks_exact_mut(Q8_BLOCK).enumerate() {
                        let dl = match kind {
                            PackedKind::IQ4XS => d * subs[j * GROUP + lane] as i8 as f32,
                            _ => d,
                        };
                        for (i, v) in y.iter_mut().enumerate() {
                            *v = dl * IQ4_VALUES[nibble(j, i) as usize] as f32;
                        }
                    }
                }
                PackedKind::Q4K | PackedKind::Q5K => {
                    let dmin = f16(sc[GROUP + lane]);
                    for (j, y) in y.chunks_exact_mut(Q8_BLOCK).enumerate() {
                        let (scale, min) = (d * sub(j, 0) as f32, dmin * sub(j, 1) as f32);
                        for (i, v) in y.iter_mut().enumerate() {
                            let q = if kind == PackedKind::Q5K {
                                five(j / 4 * 5, j % 4, i)
                            } else {
                                nibble(j, i)
                            };
                            *v = scale * q as f32 - min;
                        }
                    }
                }
                PackedKind::Q6K => {
                    for (j, y) in y.chunks_exact_mut(Q8_BLOCK).enumerate() {
                        let (pair, c) = (j / 2, j % 2);
                        for (i, v) in y.iter_mut().enumerate() {
                            let h = lines[pair * 3 + 2].0[lane * 16 + i % 16] >> (4 * c);
                            let q = nibble(pair * 3 + c, i) | ((h >> (2 * (i / 16))) & 3) << 4;
                            let scale = sub(j, i / 16) as i8 as f32;
                            *v = d * scale * (q as i32 - 32) as f32;
                        }
                    }
                }
            }
        }
    }
}
