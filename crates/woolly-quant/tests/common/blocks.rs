//! Random test data shared by the kernel tests here and the engine's (which include this
//! file by path): SplitMix64 and random quantized blocks.

use super::GgmlType;

/// SplitMix64: deterministic test data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

/// `n_blocks` random blocks of `ty`: floats in ±`amplitude` for the float types; random bits
/// for quantized ones, with their scale fields set to finite values in ±`scale` (random
/// bits there could be NaN).
pub fn random_blocks(
    ty: GgmlType,
    n_blocks: usize,
    rng: &mut Rng,
    amplitude: f32,
    scale: f32,
) -> Vec<u8> {
    use half::{bf16, f16};
    let f16_fields: &[usize] = match ty {
        GgmlType::Q4_0 | GgmlType::Q5_0 | GgmlType::Q8_0 | GgmlType::IQ4NL | GgmlType::IQ4XS => {
            &[0]
        }
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q8_1 | GgmlType::Q4K | GgmlType::Q5K => &[0, 2],
        GgmlType::Q2K => &[80, 82],
        GgmlType::Q3K => &[108],
        GgmlType::Q6K => &[208],
        _ => &[],
    };
    let mut data = Vec::with_capacity(n_blocks * ty.type_size());
    for _ in 0..n_blocks {
        match ty {
            GgmlType::F32 => data.extend((rng.unit() * amplitude).to_le_bytes()),
            GgmlType::F16 => data.extend(f16::from_f32(rng.unit() * amplitude).to_le_bytes()),
            GgmlType::BF16 => data.extend(bf16::from_f32(rng.unit() * amplitude).to_le_bytes()),
            _ => {
                let mut block: Vec<u8> = (0..ty.type_size()).map(|_| rng.next() as u8).collect();
                for &at in f16_fields {
                    block[at..at + 2]
                        .copy_from_slice(&f16::from_f32(rng.unit() * scale).to_le_bytes());
                }
                if ty == GgmlType::Q8K {
                    // Q8_K's scale is an f32.
                    block[0..4].copy_from_slice(&(rng.unit() * scale / 2.0).to_le_bytes());
                }
                data.extend(block);
            }
        }
    }
    data
}
