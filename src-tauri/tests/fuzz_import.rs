//! Bounded, seeded fuzzing of the app's import paths, through the real code on real files:
//! a conversation export mutated byte by byte and structurally into `export::import` on a
//! real SQLite history, and mutated or garbage model files into the `import_model` command.
//! Every case must end in a value or a typed error, never a panic, and leave the history
//! and the model store usable. Prints the cases run; `WOOLLY_FUZZ_SEED` picks another seed.

mod support;

use serde_json::json;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;
use woolly_desktop::db::Db;
use woolly_desktop::export;
use woolly_desktop::types::SamplingParams;

struct Rng(u64);

impl Rng {
    fn from_env() -> Self {
        let seed = std::env::var("WOOLLY_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5eed_2026_u64);
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// JSON-shaped replacements: wrong types, huge numbers, deep nesting, odd strings.
const TOKENS: [&str; 14] = [
    "null",
    "true",
    "-1",
    "1e400",
    "18446744073709551616",
    "\"\"",
    "[]",
    "{}",
    "\"\\ud800\"",
    "\"x\"",
    "0",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ",",
    "\"\u{0}\"",
];

/// One to three mutations: a byte changed, a slice cut, or a JSON token put somewhere.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut d = seed.to_vec();
    for _ in 0..1 + rng.below(3) {
        if d.is_empty() {
            break;
        }
        let at = rng.below(d.len());
        match rng.below(4) {
            0 => d[at] = rng.next() as u8,
            1 => d.truncate(at),
            2 => {
                let len = rng.below(32).min(d.len() - at);
                d.drain(at..at + len);
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                let len = rng.below(12).min(d.len() - at);
                d.splice(at..at + len, t.iter().copied());
            }
        }
    }
    d
}

#[test]
fn conversation_import_survives_mutated_exports() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("history.db")).unwrap();
    for i in 0..3 {
        let c = db
            .create_conversation(
                Some(&format!("chat {i}")),
                "Be brief.",
                &SamplingParams::default(),
                None,
            )
            .unwrap();
        let q = db
            .add_user_message(&c.id, "How do I sort a vector? ✓ 日本")
            .unwrap();
        let r = db.start_reply(&c.id, &q.id, Some("tiny.gguf")).unwrap();
        db.finish_reply(&r.id, "Use `v.sort()`.", None).unwrap();
    }
    let threads = export::threads(&db, None).unwrap();
    let seed = export::to_json(&threads, 0).unwrap().into_bytes();
    let target = Db::open(&dir.path().join("target.db")).unwrap();
    assert_eq!(export::import(&target, &seed).unwrap().len(), 3);

    let mut rng = Rng::from_env();
    let start = Instant::now();
    let n = 30_000;
    let (mut imported, mut refused) = (0, 0);
    for i in 0..n {
        let input = mutate(&seed, &mut rng);
        match catch_unwind(AssertUnwindSafe(|| export::import(&target, &input))) {
            Ok(Ok(_)) => imported += 1,
            Ok(Err(e)) => {
                assert!(!e.message.is_empty());
                refused += 1;
            }
            Err(_) => panic!("case {i}: panic on {:?}", String::from_utf8_lossy(&input)),
        }
    }
    // The history is intact and usable.
    let listed = target.list_conversations().unwrap();
    assert!(listed.len() >= 3 + imported);
    for c in listed.iter().take(50) {
        target.messages(&c.id).unwrap();
    }
    println!(
        "conversation import fuzz: {n} cases ({imported} imported, {refused} refused) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn model_import_survives_mutated_and_garbage_files() {
    let dir = tempfile::tempdir().unwrap();
    let h = support::Harness::open(dir.path());
    let files = tempfile::tempdir().unwrap();
    let header = {
        let bytes = std::fs::read(support::test_model()).unwrap();
        bytes[..1 << 20].to_vec()
    };
    let mut rng = Rng::from_env();
    let start = Instant::now();
    let n = 400;
    let (mut imported, mut refused) = (0, 0);
    for i in 0..n {
        let input = match i % 4 {
            0 => (0..rng.below(4096)).map(|_| rng.next() as u8).collect(),
            _ => mutate(&header, &mut rng),
        };
        let path = files.path().join(format!("case-{i}.gguf"));
        std::fs::write(&path, &input).unwrap();
        h.state().picked.record(&path);
        let result = h.invoke(
            "import_model",
            json!({"path": path.to_str().unwrap(), "mode": "copy"}),
        );
        match result {
            Ok(m) => {
                imported += 1;
                assert!(m["id"].is_string(), "{m}");
            }
            Err(e) => {
                assert!(
                    ["invalid_argument", "io"].contains(&e["code"].as_str().unwrap()),
                    "case {i}: {e}"
                );
                refused += 1;
            }
        }
    }
    // The store lists exactly what was imported (no half-copied entry), and still takes
    // the real model.
    let installed = h.invoke("installed_models", json!({})).unwrap();
    let installed = installed.as_array().unwrap();
    assert!(installed.len() >= imported, "{installed:?}");
    let real = files.path().join("real.gguf");
    std::fs::copy(support::test_model(), &real).unwrap();
    h.state().picked.record(&real);
    h.invoke(
        "import_model",
        json!({"path": real.to_str().unwrap(), "mode": "reference"}),
    )
    .expect("the real model imports after the fuzz");
    println!(
        "model import fuzz: {n} cases ({imported} imported, {refused} refused) in {:.1} s",
        start.elapsed().as_secs_f64()
    );
}
