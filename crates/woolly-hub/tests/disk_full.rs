//! The disk fills up during a download, on a real (small) file system: a clear error, no
//! file promoted to the model's name, the partial bytes kept, and the download resumes from
//! them once space is freed.
//!
//! The file system is a 72 MiB tmpfs (the downloader keeps 64 MiB of headroom free) in a
//! private mount namespace: this test re-runs itself inside `unshare -rm` (a user and mount
//! namespace, so it needs no root where unprivileged user namespaces are allowed; CI runs as
//! root), with the mount point in `WOOLLY_DISK_FULL_DIR`. A tmpfs rather than a loop device:
//! no image file, no `losetup` (which needs real root and a free loop device), and it fills
//! exactly at its size. Where no namespace can be made and we are not root, it says so and
//! passes; as root a failure to mount fails the test.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;
use woolly_hub::download::part_path;
use woolly_hub::{DownloadControl, DownloadEvent, DownloadRequest, Downloader, HubError};

const DIR_ENV: &str = "WOOLLY_DISK_FULL_DIR";
const MIB: usize = 1 << 20;

#[test]
fn the_disk_filling_during_a_download_is_a_clear_error_and_resumes_after() {
    if let Ok(dir) = std::env::var(DIR_ENV) {
        inside_the_small_file_system(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size=72m tmpfs "$0" && exec "$@""#,
        ])
        .arg(dir.path())
        .arg(std::env::current_exe().unwrap())
        .args([
            "the_disk_filling_during_a_download_is_a_clear_error_and_resumes_after",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .output();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let out = match out {
        Ok(out) => out,
        Err(e) if !root => {
            eprintln!("SKIPPED: cannot run unshare ({e}) and not root");
            return;
        }
        Err(e) => panic!("unshare: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() && !root && stderr.contains("unshare") {
        eprintln!("SKIPPED: no user namespace here: {stderr}");
        return;
    }
    assert!(
        out.status.success(),
        "inner run failed:\n{stdout}\n{stderr}"
    );
    // The inner run really ran the test (not an empty filter).
    assert!(stdout.contains("1 passed"), "{stdout}");
    println!("{stdout}");
}

fn inside_the_small_file_system(dir: &Path) {
    let data = payload(8 * MIB, seed());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let server = TestServer::start().await;
        // 8 MiB at about 6 MiB/s: time for the filler to take the space mid-way.
        let faults = Faults {
            trickle: Some((64 * 1024, Duration::from_millis(10))),
            ..Faults::default()
        };
        server.serve("/m.gguf", data.clone(), faults);
        let req = DownloadRequest {
            url: server.url("/m.gguf"),
            dest: dir.join("models/m.gguf"),
            sha256: sha256(&data),
            size_hint: None,
        };
        let part = part_path(&req.dest);
        let filler = dir.join("filler");
        let fill = {
            let (part, filler) = (part.clone(), filler.clone());
            std::thread::spawn(move || fill_when_started(&part, &filler))
        };
        let events = Events::default();
        let dl = Downloader::new(fast_options()).unwrap();
        let err = dl
            .download(&req, &DownloadControl::new(), &mut events.sink())
            .await
            .unwrap_err();
        let filled = fill.join().unwrap();
        assert!(filled > 0, "the filler took the space");
        assert!(
            matches!(&err, HubError::DiskFull { path } if *path == part),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("disk filled up") && message.contains("resume"),
            "{message}"
        );
        // Nothing under the model's name; the bytes so far are kept, a prefix of the file.
        assert!(!req.dest.exists());
        let kept = std::fs::read(&part).unwrap();
        assert!(
            !kept.is_empty() && kept.len() < data.len(),
            "{} bytes",
            kept.len()
        );
        assert_eq!(kept, data[..kept.len()]);
        assert_eq!(
            events.count(|e| matches!(e, DownloadEvent::Finished { .. })),
            0
        );

        // Space freed: the same download resumes from the kept bytes and verifies.
        std::fs::remove_file(&filler).unwrap();
        let events = Events::default();
        let done = dl
            .download(&req, &DownloadControl::new(), &mut events.sink())
            .await
            .unwrap();
        assert_eq!(done.path, req.dest);
        assert_eq!(std::fs::read(&req.dest).unwrap(), data);
        assert!(!part.exists());
        let resumed: Vec<u64> = events
            .all()
            .iter()
            .filter_map(|e| match e {
                DownloadEvent::Started { resumed_from, .. } => Some(*resumed_from),
                _ => None,
            })
            .collect();
        assert_eq!(resumed, vec![kept.len() as u64]);
        let last = server.requests("/m.gguf").last().cloned().unwrap();
        assert_eq!(
            last.range.as_deref(),
            Some(&*format!("bytes={}-", kept.len()))
        );
        println!(
            "disk full after {} of {} bytes ({} MiB of filler); resumed and verified",
            kept.len(),
            data.len(),
            filled / MIB as u64
        );
    });
}

/// Once `part` holds 1 MiB, writes `filler` until the file system is full; its size.
fn fill_when_started(part: &Path, filler: &PathBuf) -> u64 {
    use std::io::Write;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(part).map_or(0, |m| m.len()) < MIB as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the download never started"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut f = std::fs::File::create(filler).unwrap();
    let block = vec![0xEEu8; 256 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filler: {e}"),
        }
    }
    written
}
