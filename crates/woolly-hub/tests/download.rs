//! Downloads against a loopback server with injected faults.

mod support;

use std::time::Duration;
use support::*;
use woolly_hub::download::part_path;
use woolly_hub::{DownloadControl, DownloadEvent, DownloadRequest, Downloader, HubError};

const MIB: usize = 1 << 20;

fn request(url: String, dir: &std::path::Path, data: &[u8]) -> DownloadRequest {
    DownloadRequest {
        url,
        dest: dir.join("model.gguf"),
        sha256: sha256(data),
        size_hint: None,
    }
}

async fn run(req: &DownloadRequest, events: &Events) -> woolly_hub::Result<woolly_hub::Downloaded> {
    let dl = Downloader::new(fast_options()).unwrap();
    dl.download(req, &DownloadControl::new(), &mut events.sink())
        .await
}

/// A server sending `data` at /m.gguf in `chunk`-byte pieces, `every` apart.
async fn trickling(data: &[u8], chunk: usize, every: Duration) -> TestServer {
    let server = TestServer::start().await;
    let faults = Faults {
        trickle: Some((chunk, every)),
        ..Faults::default()
    };
    server.serve("/m.gguf", data.to_vec(), faults);
    server
}

/// Runs `req` in the background under `control`, its events going to `events`.
fn spawn_download(
    req: &DownloadRequest,
    control: &DownloadControl,
    events: &Events,
) -> tokio::task::JoinHandle<woolly_hub::Result<woolly_hub::Downloaded>> {
    let (req, control, mut sink) = (req.clone(), control.clone(), events.sink());
    tokio::spawn(async move {
        let dl = Downloader::new(fast_options()).unwrap();
        dl.download(&req, &control, &mut sink).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_dropped_at_random_offsets_is_retried_to_a_verified_file() {
    let mut rng = Rng::new(seed());
    let data = payload(3 * MIB, rng.next());
    let mut drops: Vec<u64> = (0..4)
        .map(|_| 65_536 + rng.below(data.len() as u64 - 65_536))
        .collect();
    drops.sort();
    drops.dedup();
    let server = TestServer::start().await;
    let faults = Faults {
        drops: std::sync::Mutex::new(drops.iter().copied().collect()),
        ..Faults::default()
    };
    server.serve("/m.gguf", data.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let events = Events::default();

    let done = run(&req, &events).await.unwrap();

    assert_eq!(done.sha256, sha256(&data));
    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    assert!(no_part_files(dir.path()));
    let requests = server.requests("/m.gguf");
    assert_eq!(
        requests.len(),
        drops.len() + 1,
        "one retry per drop: {requests:?}"
    );
    // Retries continue where the previous connection stopped (from 0 only when a drop
    // came before any byte reached the client).
    let starts: Vec<u64> = requests[1..]
        .iter()
        .map(|r| match &r.range {
            Some(range) => range
                .trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse()
                .unwrap(),
            None => 0,
        })
        .collect();
    for (start, drop) in starts.iter().zip(&drops) {
        assert!(start <= drop, "resumed at {start}, dropped at {drop}");
    }
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");
    assert!(
        starts.iter().any(|&s| s > 0),
        "no retry used a range: {starts:?}"
    );
    assert_eq!(
        events.count(|e| matches!(e, DownloadEvent::Retrying { .. })),
        drops.len()
    );
    assert_eq!(
        events.count(|e| matches!(e, DownloadEvent::Finished { .. })),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_ignores_range_restarts_from_zero() {
    let data = payload(2 * MIB, 7);
    let server = TestServer::start().await;
    let faults = Faults {
        ignore_range: true,
        drops: std::sync::Mutex::new([MIB as u64].into()),
        ..Faults::default()
    };
    server.serve("/m.gguf", data.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let events = Events::default();

    run(&req, &events).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 2);
    assert!(requests[1].range.is_some(), "the retry asked for a range");
    assert_eq!(
        events.count(|e| matches!(e, DownloadEvent::Restarted { .. })),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_fails_at_once_with_a_clear_message_and_leaves_nothing() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/missing.gguf"), dir.path(), b"x");

    let err = run(&req, &Events::default()).await.unwrap_err();

    assert!(
        matches!(err, HubError::Status { status: 404, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("404") && msg.contains("/missing.gguf"),
        "{msg}"
    );
    assert_eq!(
        server.requests("/missing.gguf").len(),
        1,
        "a 404 is not retried"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_not_satisfiable_on_a_complete_part_goes_straight_to_verification() {
    let data = payload(100_000, 3);
    let server = TestServer::start().await;
    server.serve("/m.gguf", data.clone(), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    // A previous run got every byte but died before verifying.
    std::fs::write(part_path(&req.dest), &data).unwrap();

    run(&req, &Events::default()).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].range.as_deref(), Some("bytes=100000-"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_not_satisfiable_on_an_oversized_part_restarts_cleanly() {
    let data = payload(100_000, 4);
    let server = TestServer::start().await;
    server.serve("/m.gguf", data.clone(), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    // Left over from a different, larger file of the same name.
    std::fs::write(part_path(&req.dest), payload(150_000, 99)).unwrap();
    let events = Events::default();

    run(&req, &events).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let ranges: Vec<_> = server
        .requests("/m.gguf")
        .into_iter()
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges, vec![Some("bytes=150000-".to_string()), None]);
    assert_eq!(
        events.count(|e| matches!(e, DownloadEvent::Restarted { .. })),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_trickle_completes_and_reports_speed_and_eta() {
    let data = payload(160 * 1024, 5);
    let server = trickling(&data, 4096, Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let events = Events::default();

    run(&req, &events).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let progress: Vec<_> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            DownloadEvent::Progress(p) => Some(p),
            _ => None,
        })
        .collect();
    assert!(progress.len() >= 5, "{} progress events", progress.len());
    assert!(progress
        .windows(2)
        .all(|w| w[0].downloaded <= w[1].downloaded));
    let mid = &progress[progress.len() / 2];
    assert_eq!(mid.total, Some(data.len() as u64));
    // ~400 KB/s by construction; allow a wide margin for a loaded machine.
    assert!(
        mid.bytes_per_sec > 20_000.0 && mid.bytes_per_sec < 2_000_000.0,
        "{mid:?}"
    );
    assert!(mid.eta_secs.is_some_and(|eta| eta > 0.0));
    assert_eq!(progress.last().unwrap().downloaded, data.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_connection_times_out_and_resumes() {
    let data = payload(MIB, 6);
    let server = TestServer::start().await;
    let faults = Faults {
        stall: Some((300_000, Duration::from_secs(3))),
        ..Faults::default()
    };
    server.serve("/m.gguf", data.clone(), faults);
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let options = woolly_hub::DownloadOptions {
        read_timeout: Duration::from_millis(400),
        ..fast_options()
    };
    let events = Events::default();

    Downloader::new(options)
        .unwrap()
        .download(&req, &DownloadControl::new(), &mut events.sink())
        .await
        .unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 2);
    assert!(requests[1].range.is_some());
    assert_eq!(
        events.count(|e| matches!(e, DownloadEvent::Retrying { .. })),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_bytes_fail_verification_and_leave_no_file() {
    let data = payload(500_000, 8);
    let server = TestServer::start().await;
    server.serve(
        "/m.gguf",
        data.clone(),
        Faults {
            corrupt: true,
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);

    let err = run(&req, &Events::default()).await.unwrap_err();

    let HubError::HashMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(expected, sha256(&data).as_str());
    assert_ne!(expected, actual);
    let msg = err.to_string();
    assert!(
        msg.contains(expected.as_str()) && msg.contains(actual.as_str()),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "neither .part nor model left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_with_back_off() {
    let data = payload(10_000, 9);
    let server = TestServer::start().await;
    server.serve(
        "/m.gguf",
        data.clone(),
        Faults {
            statuses: std::sync::Mutex::new([503, 500].into()),
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let events = Events::default();

    run(&req, &events).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let delays: Vec<u64> = events
        .all()
        .into_iter()
        .filter_map(|e| match e {
            DownloadEvent::Retrying { delay_ms, .. } => Some(delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(delays, vec![10, 20], "exponential back-off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gives_up_after_the_configured_attempts() {
    let server = TestServer::start().await;
    server.serve(
        "/m.gguf",
        vec![0; 10],
        Faults {
            always_status: Some(503),
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), b"x");
    let options = woolly_hub::DownloadOptions {
        max_attempts: 3,
        ..fast_options()
    };

    let err = Downloader::new(options)
        .unwrap()
        .download(&req, &DownloadControl::new(), &mut |_| {})
        .await
        .unwrap_err();

    assert!(
        matches!(err, HubError::GaveUp { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("503"), "{err}");
    assert_eq!(server.requests("/m.gguf").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_a_part_left_by_an_earlier_run() {
    let data = payload(MIB, 10);
    let server = TestServer::start().await;
    server.serve("/m.gguf", data.clone(), Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    std::fs::write(part_path(&req.dest), &data[..300_000]).unwrap();
    let events = Events::default();

    run(&req, &events).await.unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    assert_eq!(
        server.requests("/m.gguf")[0].range.as_deref(),
        Some("bytes=300000-")
    );
    assert!(events.all().contains(&DownloadEvent::Started {
        total: Some(data.len() as u64),
        resumed_from: 300_000
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keeps_the_part_and_resume_continues_it() {
    let data = payload(400 * 1024, 11);
    let server = trickling(&data, 8192, Duration::from_millis(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let control = DownloadControl::new();
    let events = Events::default();
    let task = spawn_download(&req, &control, &events);
    let part = part_path(&req.dest);
    wait_for(|| downloaded(&events) > 50_000).await;
    control.pause();
    wait_for(|| events.count(|e| matches!(e, DownloadEvent::Paused { .. })) == 1).await;
    let paused_len = std::fs::metadata(&part).unwrap().len();
    assert!(
        events.all().contains(&DownloadEvent::Paused {
            downloaded: paused_len
        }),
        "the part is flushed on pause"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        paused_len,
        "nothing is written while paused"
    );
    assert!(paused_len < data.len() as u64);
    control.resume();

    task.await.unwrap().unwrap();

    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
    let requests = server.requests("/m.gguf");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].range, Some(format!("bytes={paused_len}-")));
    assert_eq!(events.count(|e| matches!(e, DownloadEvent::Resumed)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_and_deletes_the_part() {
    let data = payload(400 * 1024, 12);
    let server = trickling(&data, 4096, Duration::from_millis(5)).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let control = DownloadControl::new();
    let events = Events::default();
    let task = spawn_download(&req, &control, &events);
    wait_for(|| downloaded(&events) > 10_000).await;
    control.cancel();

    let err = task.await.unwrap().unwrap_err();

    assert!(matches!(err, HubError::Cancelled), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_enough_disk_space_fails_before_any_request() {
    let server = TestServer::start().await;
    server.serve("/m.gguf", vec![0; 10], Faults::default());
    let dir = tempfile::tempdir().unwrap();
    let mut req = request(server.url("/m.gguf"), dir.path(), b"x");
    req.size_hint = Some(1 << 60);

    let err = run(&req, &Events::default()).await.unwrap_err();

    assert!(matches!(err, HubError::InsufficientDisk { .. }), "{err:?}");
    assert!(server.all_requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_part_is_refused() {
    let data = payload(200 * 1024, 13);
    let server = trickling(&data, 4096, Duration::from_millis(10)).await;
    let dir = tempfile::tempdir().unwrap();
    let req = request(server.url("/m.gguf"), dir.path(), &data);
    let control = DownloadControl::new();
    let first = spawn_download(&req, &control, &Events::default());
    wait_for(|| part_path(&req.dest).exists()).await;

    let err = run(&req, &Events::default()).await.unwrap_err();

    assert!(
        matches!(err, HubError::AlreadyDownloading { .. }),
        "{err:?}"
    );
    first.await.unwrap().unwrap();
    assert_eq!(std::fs::read(&req.dest).unwrap(), data);
}

fn downloaded(events: &Events) -> u64 {
    events
        .all()
        .iter()
        .filter_map(|e| match e {
            DownloadEvent::Progress(p) => Some(p.downloaded),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

async fn wait_for(mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 10 s");
}
