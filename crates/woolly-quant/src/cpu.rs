//! Which instruction sets the kernels may use. The default is the best this CPU has; a cap
//! (`--cpu-features`, `WOOLLY_CPU_FEATURES`) makes them use nothing above a tier, so a
//! laptop's AVX2-only CPU can be timed and tested on a better one.
//!
//! The cap is process-wide and read by every kernel's availability check. Set it before a
//! model loads: a loaded model keeps the kernels (and the weight layout) it was packed for.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

/// A tier of instruction sets, each including the ones below it on its architecture (x86
/// or ARM); `Portable` is below both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CpuFeatures {
    /// Plain Rust, vectorized by the compiler for the baseline target.
    Portable,
    /// AVX2 + FMA + F16C (Haswell, Zen 1-3).
    Avx2,
    /// AVX-512 with VNNI (Ice Lake, Zen 4-5).
    Avx512,
    /// AVX-512 and AMX tiles for prefill (Sapphire Rapids).
    Amx,
    /// AArch64's baseline NEON.
    Neon,
    /// NEON with `sdot` (Cortex-A76 and later, Apple M1 and later).
    Dotprod,
    /// NEON with `sdot` and `smmla` (Apple M2 and later, Neoverse V1/N2, Cortex-X2).
    I8mm,
}

/// The environment variable the app, the tests and the CLI read the cap from.
pub const ENV: &str = "WOOLLY_CPU_FEATURES";

impl CpuFeatures {
    pub const ALL: [Self; 7] = [
        Self::Portable,
        Self::Avx2,
        Self::Avx512,
        Self::Amx,
        Self::Neon,
        Self::Dotprod,
        Self::I8mm,
    ];

    /// The tiers of this CPU's architecture, lowest first.
    pub fn of_this_arch() -> &'static [Self] {
        if cfg!(target_arch = "aarch64") {
            &[Self::Portable, Self::Neon, Self::Dotprod, Self::I8mm]
        } else if cfg!(target_arch = "x86_64") {
            &[Self::Portable, Self::Avx2, Self::Avx512, Self::Amx]
        } else {
            &[Self::Portable]
        }
    }

    /// Rank within its architecture (0 for `Portable`).
    fn rank(self) -> u8 {
        match self {
            Self::Portable => 0,
            Self::Avx2 | Self::Neon => 1,
            Self::Avx512 | Self::Dotprod => 2,
            Self::Amx | Self::I8mm => 3,
        }
    }

    fn is_arm(self) -> bool {
        matches!(self, Self::Neon | Self::Dotprod | Self::I8mm)
    }

    /// Whether `self` is at or below `cap`: on the same architecture, or portable.
    pub fn within(self, cap: Self) -> bool {
        self == Self::Portable || (self.is_arm() == cap.is_arm() && self.rank() <= cap.rank())
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Portable => "portable",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
            Self::Amx => "amx",
            Self::Neon => "neon",
            Self::Dotprod => "dotprod",
            Self::I8mm => "i8mm",
        }
    }

    /// The best tier this CPU (and OS, for AMX) supports, ignoring any cap.
    pub fn detected() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use super::packed::{amx_detected, avx2_detected, avx512_detected};
            if amx_detected() {
                return Self::Amx;
            }
            if avx512_detected() {
                return Self::Avx512;
            }
            if avx2_detected() {
                return Self::Avx2;
            }
        }
        #[cfg(target_arch = "aarch64")]
        {
            use super::packed::{dotprod_detected, i8mm_detected};
            if i8mm_detected() {
                return Self::I8mm;
            }
            if dotprod_detected() {
                return Self::Dotprod;
            }
            return Self::Neon;
        }
        #[allow(unreachable_code)]
        Self::Portable
    }
}

impl fmt::Display for CpuFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown CPU features {0:?}: expected amx, avx512, avx2 or portable (x86), i8mm, dotprod or neon (ARM)")]
pub struct UnknownCpuFeatures(pub String);

impl FromStr for CpuFeatures {
    type Err = UnknownCpuFeatures;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownCpuFeatures(s.to_string()))
    }
}

const UNREAD: u8 = u8::MAX;
const NONE: u8 = u8::MAX - 1;
static CAP: AtomicU8 = AtomicU8::new(UNREAD);

fn encode(cap: Option<CpuFeatures>) -> u8 {
    cap.map_or(NONE, |t| t as u8)
}

/// The cap in force: the last [`set_cap`], else `WOOLLY_CPU_FEATURES` (an unknown value
/// there is ignored: the CLI and the app validate it where they can say so).
pub fn cap() -> Option<CpuFeatures> {
    let mut v = CAP.load(Ordering::Relaxed);
    if v == UNREAD {
        let from_env = std::env::var(ENV).ok().and_then(|s| s.parse().ok());
        // A racing `set_cap` wins over the environment.
        v = match CAP.compare_exchange(
            UNREAD,
            encode(from_env),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => encode(from_env),
            Err(current) => current,
        };
    }
    CpuFeatures::ALL.get(v as usize).copied()
}

/// Caps the kernels at `cap` (`None`: the best the CPU has) for the rest of the process.
pub fn set_cap(cap: Option<CpuFeatures>) {
    CAP.store(encode(cap), Ordering::Relaxed);
}

/// Whether kernels of tier `t` may run (the CPU must still be checked for them).
#[inline]
pub fn allows(t: CpuFeatures) -> bool {
    cap().is_none_or(|cap| t.within(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_order_by_tier() {
        for t in CpuFeatures::ALL {
            assert_eq!(t.name().parse::<CpuFeatures>(), Ok(t));
        }
        assert_eq!("AVX2".parse::<CpuFeatures>(), Ok(CpuFeatures::Avx2));
        assert!("sse4".parse::<CpuFeatures>().is_err());
        assert!(CpuFeatures::Portable < CpuFeatures::Avx2);
        assert!(CpuFeatures::Avx512 < CpuFeatures::Amx);
        assert!(CpuFeatures::Avx2.within(CpuFeatures::Amx));
        assert!(!CpuFeatures::Amx.within(CpuFeatures::Avx2));
        assert!(CpuFeatures::Dotprod.within(CpuFeatures::I8mm));
        assert!(!CpuFeatures::I8mm.within(CpuFeatures::Neon));
        // Another architecture's cap leaves only the portable kernels.
        assert!(!CpuFeatures::Neon.within(CpuFeatures::Amx));
        assert!(!CpuFeatures::Avx2.within(CpuFeatures::I8mm));
        assert!(CpuFeatures::Portable.within(CpuFeatures::Neon));
    }
}
