//! Shared helpers for the kernel tests.
#![allow(dead_code)]

use woolly_quant::GgmlType;

mod blocks;
pub use blocks::{random_blocks, Rng};
