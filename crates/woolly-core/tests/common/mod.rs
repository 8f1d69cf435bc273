//! Shared helpers for integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

mod test_model;
#[allow(unused_imports)]
pub use test_model::test_model;

/// `tests/refdata/NAME`: llama.cpp's outputs for the test model, kept in the repository.
pub fn refdata(name: &str) -> PathBuf {
    let path =
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/refdata")).join(name);
    assert!(
        path.exists(),
        "reference data missing at {}",
        path.display()
    );
    path
}

use woolly_core::quant::GgmlType;

#[path = "../../../woolly-quant/tests/common/blocks.rs"]
mod blocks;
#[allow(unused_imports)]
pub use blocks::{random_blocks, Rng};
