//! A download killed with SIGKILL mid-way is resumed by a new process: the new one
//! re-hashes the `.part` it finds and asks only for the rest.
//!
//! The "processes" are this test binary re-run with `child_download` selected and its
//! job in `WOOLLY_HUB_CHILD`; run normally, `child_download` does nothing.

mod support;

use std::time::Duration;
use support::*;
use woolly_hub::download::part_path;
use woolly_hub::{DownloadControl, DownloadRequest, Downloader};

const CHILD_ENV: &str = "WOOLLY_HUB_CHILD";

#[test]
fn child_download() {
    let Ok(job) = std::env::var(CHILD_ENV) else {
        return;
    };
    let job: serde_json::Value = serde_json::from_str(&job).unwrap();
    let req = DownloadRequest {
        url: job["url"].as_str().unwrap().into(),
        dest: job["dest"].as_str().unwrap().into(),
        sha256: job["sha256"].as_str().unwrap().parse().unwrap(),
        size_hint: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dl = Downloader::new(fast_options()).unwrap();
        dl.download(&req, &DownloadControl::new(), &mut |_| {})
            .await
            .unwrap();
    });
}

fn spawn_child(job: &serde_json::Value) -> tokio::process::Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "child_download",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, job.to_string())
        // The child's own test summary must not be mistaken for this run's.
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_download_is_resumed_by_a_new_process() {
    let data = payload(6 << 20, seed());
    let server = TestServer::start().await;
    // ~3 MB/s: the first process is still busy when it is killed.
    let faults = Faults {
        trickle: Some((32 * 1024, Duration::from_millis(10))),
        ..Faults::default()
    };
    let spec = server.serve("/m.gguf", data.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("m.gguf");
    let part = part_path(&dest);
    let job = serde_json::json!({"url": server.url("/m.gguf"), "dest": dest, "sha256": sha256(&data).as_str()});

    let mut first = spawn_child(&job);
    let mut waited = 0;
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < (1 << 20) {
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first process ended early"
        );
        assert!(waited < 3000, "no progress within 30 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    first.kill().await.unwrap(); // SIGKILL: no chance to clean up
    let killed_at = std::fs::metadata(&part).unwrap().len();
    assert!(killed_at > 0 && killed_at < data.len() as u64);
    assert!(!dest.exists());

    // The second process gets the rest at full speed.
    drop(spec);
    server.serve("/m.gguf", data.clone(), Faults::default());
    let status = spawn_child(&job).wait().await.unwrap();

    assert!(status.success());
    assert_eq!(std::fs::read(&dest).unwrap(), data);
    assert!(!part.exists());
    let last = server.requests("/m.gguf").pop().unwrap();
    let resumed_at: u64 = last
        .range
        .expect("the new process resumed")
        .trim_start_matches("bytes=")
        .trim_end_matches('-')
        .parse()
        .unwrap();
    assert!(
        resumed_at >= killed_at,
        "resumed at {resumed_at}, {killed_at} bytes were on disk"
    );
}
