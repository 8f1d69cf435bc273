//! The GPU's memory read bandwidth, the limit of decode speed there as on the CPU (each
//! decoded token reads every weight once): `woolly membw --device gpu`, `make bench`.

use super::device::{Gpu, GpuError};
use super::ops::Buf;
use cubecl::prelude::*;
use std::time::Instant;

const THREADS: u32 = 256;
const CUBES: u32 = 1024;
/// Launches per timed pass, so one pass's wait for the device is spread over many reads.
const LAUNCHES: usize = 16;

/// Each thread adds up every `stride`-th word from its own (wrapping, so the total is the
/// same in any order), as the matrix kernels read weights: a word at a time, neighbouring
/// threads on neighbouring words.
#[cube(launch)]
fn read_words(w: &[u32], out: &mut [u32], words: u32, stride: u32) {
    let id = ABSOLUTE_POS;
    let (words, stride) = (words as usize, stride as usize);
    let mut acc = 0u32;
    for step in 0..words.div_ceil(stride) {
        let i = id + step * stride;
        if i < words {
            acc += w[i];
        }
    }
    out[id] = acc;
}

/// What a read of the device's memory measured.
#[derive(Debug, Clone, Copy)]
pub struct Bandwidth {
    /// The fastest pass, in GB/s.
    pub gb_s: f64,
    pub bytes: usize,
    /// The wrapping sum of every word read: the caller can check all were.
    pub checksum: u32,
}

/// Reads a buffer of up to `bytes` (no more than one binding) filled from `word`,
/// `passes` times; the fastest pass counts.
pub fn read_bandwidth(
    gpu: &Gpu,
    bytes: usize,
    passes: usize,
    word: impl Fn(usize) -> u32,
) -> Result<Bandwidth, GpuError> {
    let words = bytes.min(gpu.max_binding) / 4;
    let mut data = Vec::with_capacity(words * 4);
    (0..words).for_each(|i| data.extend_from_slice(&word(i).to_le_bytes()));
    let src = Buf {
        handle: gpu.client.create_from_slice(&data),
        len: words,
    };
    drop(data);
    let threads = (THREADS * CUBES) as usize;
    let out = Buf {
        handle: gpu.client.empty(threads * 4),
        len: threads,
    };
    let launch = || {
        // SAFETY: both lengths are those of the buffers behind the handles.
        let (w, o) = unsafe {
            (
                BufferArg::from_raw_parts(src.handle.clone(), src.len),
                BufferArg::from_raw_parts(out.handle.clone(), out.len),
            )
        };
        read_words::launch(
            &gpu.client,
            CubeCount::Static(CUBES, 1, 1),
            CubeDim::new_1d(THREADS),
            w,
            o,
            words as u32,
            threads as u32,
        );
    };
    let read = || {
        gpu.client
            .read_one(out.handle.clone())
            .map_err(|e| GpuError::Device(e.to_string()))
    };
    // The first pass compiles the kernel and warms the device.
    launch();
    let sums = read()?;
    let mut best = 0f64;
    for _ in 0..passes.max(1) {
        let start = Instant::now();
        (0..LAUNCHES).for_each(|_| launch());
        read()?;
        let secs = start.elapsed().as_secs_f64();
        best = best.max((LAUNCHES * words * 4) as f64 / secs / 1e9);
    }
    let checksum = sums
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .fold(0u32, u32::wrapping_add);
    Ok(Bandwidth {
        gb_s: best,
        bytes: words * 4,
        checksum,
    })
}
