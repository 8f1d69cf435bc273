//! Helpers for tests that run the `woolly` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "../../woolly-core/tests/common/test_model.rs"]
mod test_model;
#[allow(unused_imports)]
pub use test_model::test_model;

pub fn refdata(name: &str) -> serde_json::Value {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/refdata")).join(name);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("reference data {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

pub fn woolly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_woolly"))
        .args(args)
        .output()
        .expect("run woolly")
}

/// Runs woolly, requires success, parses stdout as JSON.
pub fn woolly_json(args: &[&str]) -> serde_json::Value {
    let out = woolly(args);
    assert!(
        out.status.success(),
        "woolly {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "woolly {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// The `--cpu-features` tiers this CPU has, lowest first, read from the CPU itself (not
/// from Woolly's detection, which the tests check).
pub fn cpu_tiers() -> Vec<&'static str> {
    let mut tiers = vec!["portable"];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") && has!("f16c") {
            tiers.push("avx2");
            if has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512vnni") {
                tiers.push("avx512");
                let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
                if flags.contains(" amx_tile") && flags.contains(" amx_int8") {
                    tiers.push("amx");
                }
            }
        }
    }
    tiers
}
