//! A GPU that fails mid-reply: the reply ends with a clear error, the engine moves the
//! model to the CPU, and the next turn of the same conversation runs there. (Its own test
//! binary: the injected failure applies to every GPU model in the process.)

mod common;

use woolly_core::engine::*;
use woolly_core::model::gpu::inject_failure_after;
use woolly_core::model::ComputeDevice;
use woolly_core::sampling::SamplingParams;

fn greedy(text: &str, max_tokens: usize) -> GenerateRequest {
    let mut r = GenerateRequest::new(Prompt::Text(text.into()));
    r.sampling = SamplingParams::greedy();
    r.max_tokens = max_tokens;
    r
}

#[test]
fn a_failing_gpu_falls_back_to_the_cpu_without_losing_the_conversation() {
    if let Err(e) = ComputeDevice::gpu() {
        if std::env::var("WOOLLY_GPU_TESTS").as_deref() == Ok("skip") {
            return eprintln!("skipping GPU test: {e}");
        }
        panic!("{e} (install mesa-vulkan-drivers, or set WOOLLY_GPU_TESTS=skip)");
    }
    let load = |device| {
        let config = EngineConfig::builder()
            .device(device)
            .context_length(128)
            .build();
        Engine::load(common::test_model(), config).unwrap()
    };
    let (gpu, cpu) = (load(DevicePreference::Gpu), load(DevicePreference::Cpu));
    assert!(gpu.device().device.starts_with("gpu: "));
    let prompt = "The capital of France is";
    let events = gpu.subscribe();

    // The device is lost two steps into the reply.
    inject_failure_after(2);
    let failed = gpu.generate(&greedy(prompt, 8), |_| {});
    inject_failure_after(u64::MAX);
    let err = failed.expect_err("the reply should end with the failure");
    assert!(matches!(err, EngineError::GpuFailed(_)), "{err:?}");
    assert!(err.to_string().contains("GPU failed"), "{err}");
    let now = gpu.device();
    assert!(now.device.starts_with("cpu"), "{}", now.device);
    assert!(now.reason.unwrap().contains("GPU failed"));
    assert!(events
        .try_iter()
        .any(|e| matches!(e, EngineEvent::Error { .. })));

    // The same engine answers the same conversation, now on the CPU, as a CPU engine does.
    let retry = gpu.generate(&greedy(prompt, 8), |_| {}).unwrap();
    let want = cpu.generate(&greedy(prompt, 8), |_| {}).unwrap();
    assert_eq!(retry.tokens, want.tokens);
}
