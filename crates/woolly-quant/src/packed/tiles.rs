//! Activations laid out for the AMX kernels: for each run of 16 tokens and each 32-value
//! block, one 8 x 64-byte tile whose row `r` holds bytes `4r..4r + 4` of the 16 tokens'
//! block, side by side (the B operand of `tdpbusd`), plus the 16 tokens' scales as vectors.

use super::{Q8Block, Q8_BLOCK};

/// Tokens per tile, and weight rows per tile.
pub const TILE: usize = 16;

/// One B tile: 8 rows of 16 tokens x 4 bytes.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub struct BTile(pub [i8; 512]);

/// 16 tokens' values of one block, one per lane.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
pub struct Lanes(pub [f32; TILE]);

/// `n` quantized activation rows rearranged into tiles; the buffers only ever grow, so
/// refilling them for every chunk of a prefill allocates nothing after the first.
#[derive(Default)]
pub struct TokenTiles {
    n: usize,
    nb: usize,
    /// `[token tile][block]`.
    pub(super) tiles: Vec<BTile>,
    pub(super) d: Vec<Lanes>,
    pub(super) s: Vec<Lanes>,
    pub(super) sx: Vec<Lanes>,
}

impl TokenTiles {
    /// Rearranges `n` rows of `nb` blocks from `xq`; tokens past `n` in the last tile are
    /// zeros, whose products the kernels compute and drop.
    pub fn fill(&mut self, xq: &[Q8Block], n: usize, nb: usize) {
        assert!(xq.len() >= n * nb, "activations shorter than n rows");
        let len = n.div_ceil(TILE) * nb;
        self.n = n;
        self.nb = nb;
        self.tiles.resize(len, BTile([0; 512]));
        for v in [&mut self.d, &mut self.s, &mut self.sx] {
            v.resize(len, Lanes::default());
        }
        for (i, tile) in self.tiles[..len].iter_mut().enumerate() {
            let (tt, b) = (i / nb, i % nb);
            for j in 0..TILE {
                let t = tt * TILE + j;
                let block = (t < n).then(|| &xq[t * nb + b]);
                for r in 0..Q8_BLOCK / 4 {
                    let dst = &mut tile.0[r * 64 + j * 4..][..4];
                    match block {
                        Some(y) => dst.copy_from_slice(&y.qs[r * 4..r * 4 + 4]),
                        None => dst.fill(0),
                    }
                }
                let (d, s, sx) = block.map_or((0.0, 0.0, 0.0), |y| (y.d, y.s, y.sx));
                self.d[i].0[j] = d;
                self.s[i].0[j] = s;
                self.sx[i].0[j] = sx;
            }
        }
    }

    /// Tokens held.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Blocks per token.
    pub fn blocks(&self) -> usize {
        self.nb
    }

    /// Runs of 16 tokens (the last one possibly partial).
    pub fn token_tiles(&self) -> usize {
        self.n.div_ceil(TILE)
    }
}
