//! The test model's path, shared by the tests of every crate under `crates/` (the others
//! include this file with `#[path]`).

use std::path::PathBuf;

/// The test model, fetched by `scripts/fetch-test-model.sh` (part of `make test`).
pub fn test_model() -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/SmolLM2-135M-Instruct.Q4_1.gguf"
    ));
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/fetch-test-model.sh (or `make test`)",
        path.display()
    );
    path
}
