//! `--cpu-features` and `WOOLLY_CPU_FEATURES`: the cap picks the kernels, `bench --json`
//! says which, and a value that names no tier is refused.

mod common;

use std::process::Command;

/// The kernels' name in `bench --json`'s `device` for each tier.
fn kernels(tier: &str) -> &'static str {
    match tier {
        "portable" => "cpu (portable,",
        "avx2" => "cpu (AVX2,",
        "avx512" => "cpu (AVX-512 VNNI,",
        _ => "cpu (AVX-512 VNNI + AMX,",
    }
}

fn bench(extra: &[&str], env: Option<&str>) -> std::process::Output {
    let model = common::test_model();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_woolly"));
    cmd.args(["bench", "-m", model.to_str().unwrap(), "-p", "8", "-n", "2"])
        .args(["--threads", "1", "--json"])
        .args(extra)
        .env_remove("WOOLLY_CPU_FEATURES");
    if let Some(v) = env {
        cmd.env("WOOLLY_CPU_FEATURES", v);
    }
    cmd.output().expect("run woolly")
}

fn device(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["device"].as_str().unwrap().to_string()
}

#[test]
fn the_cap_picks_the_kernels_and_bench_names_them() {
    let tiers = common::cpu_tiers();
    let best = *tiers.last().unwrap();
    // No cap: the best the CPU has.
    let d = device(&bench(&[], None));
    assert!(d.starts_with(kernels(best)), "{d}");
    for tier in &tiers {
        let d = device(&bench(&["--cpu-features", tier], None));
        assert!(d.starts_with(kernels(tier)), "--cpu-features {tier}: {d}");
    }
    // A cap above the CPU is the CPU's best.
    let d = device(&bench(&["--cpu-features", "amx"], None));
    assert!(d.starts_with(kernels(best)), "{d}");
    // The environment, and the flag over it.
    let d = device(&bench(&[], Some("portable")));
    assert!(d.starts_with(kernels("portable")), "{d}");
    let d = device(&bench(&["--cpu-features", best], Some("portable")));
    assert!(d.starts_with(kernels(best)), "{d}");
}

#[test]
fn a_value_naming_no_tier_is_refused() {
    for out in [
        bench(&["--cpu-features", "sse4"], None),
        bench(&[], Some("sse4")),
    ] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("sse4") && err.contains("avx2"), "{err}");
    }
    // A tier of the other architecture is refused too, naming this CPU's tiers.
    let (other, ours) = if cfg!(target_arch = "aarch64") {
        ("avx2", "dotprod")
    } else {
        ("neon", "avx512")
    };
    for out in [
        bench(&["--cpu-features", other], None),
        bench(&[], Some(other)),
    ] {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("another architecture") && err.contains(ours),
            "{err}"
        );
    }
}
