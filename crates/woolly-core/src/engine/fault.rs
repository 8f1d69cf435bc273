//! Test-only fault injection. With `WOOLLY_FAULT_PANIC` set to a marker, a turn whose prompt
//! (as text) contains the marker panics inside the engine after its prefill, as a bug
//! would: the engine's, server's and app's tests check that the turn ends with an error and
//! that everything keeps working. Nothing sets it outside those tests; unset, it costs one
//! environment lookup per turn.

use crate::tokenizer::Tokenizer;

pub(super) const VAR: &str = "WOOLLY_FAULT_PANIC";

pub(super) fn panic_if_marked(tokenizer: &Tokenizer, prompt: &[u32]) {
    let Some(marker) = std::env::var(VAR).ok().filter(|m| !m.is_empty()) else {
        return;
    };
    if tokenizer.decode(prompt).contains(&marker) {
        panic!("injected fault ({VAR})");
    }
}
