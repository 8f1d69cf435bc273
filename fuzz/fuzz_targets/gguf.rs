#![no_main]
//! Any byte string is either a valid GGUF file or a typed error; never a panic.

use libfuzzer_sys::fuzz_target;
use woolly_core::gguf::GgufFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = GgufFile::from_bytes(data.to_vec(), "fuzz.gguf") {
        let _ = file.arch();
        for t in file.tensors() {
            let _ = file.tensor_data(t);
        }
    }
});
