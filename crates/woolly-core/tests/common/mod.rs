//! Shared helpers for integration tests.
#![allow(dead_code)]

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

/// `../shared/refdata/NAME` next to the repository.
pub fn refdata(name: &str) -> PathBuf {
    let path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/refdata"
    ))
    .join(name);
    assert!(
        path.exists(),
        "reference data missing at {}",
        path.display()
    );
    path
}
