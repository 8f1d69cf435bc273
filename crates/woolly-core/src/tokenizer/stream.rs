//! Incremental detokenization: a character split over several tokens (emoji, CJK with
//! byte-level BPE, `<0xNN>` fallback) is only emitted once all of its bytes have arrived.

use std::ops::Deref;

use super::Tokenizer;

/// Turns generated token ids into text chunks that never end inside a UTF-8 character.
///
/// The concatenation of every [`push`](Self::push) and the final [`flush`](Self::flush) equals
/// [`Tokenizer::decode_with`] of all the ids, except that no leading space is stripped
/// (generated text continues a prompt). `T` is `&Tokenizer`, `Arc<Tokenizer>`, ...
#[derive(Debug)]
pub struct StreamDecoder<T: Deref<Target = Tokenizer>> {
    tokenizer: T,
    pending: Vec<u8>,
    render_special: bool,
}

impl<T: Deref<Target = Tokenizer>> StreamDecoder<T> {
    /// A decoder that skips control tokens (like [`Tokenizer::decode`]).
    pub fn new(tokenizer: T) -> Self {
        Self::with_special(tokenizer, false)
    }

    /// A decoder that renders control tokens as their text when `render_special` is true.
    pub fn with_special(tokenizer: T, render_special: bool) -> Self {
        StreamDecoder {
            tokenizer,
            pending: Vec::new(),
            render_special,
        }
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        if !self.render_special && self.tokenizer.is_hidden(id) {
            return String::new();
        }
        self.pending
            .extend_from_slice(self.tokenizer.token_bytes(id));
        let mut out = String::new();
        let mut done = 0;
        loop {
            match std::str::from_utf8(&self.pending[done..]) {
                Ok(s) => {
                    out.push_str(s);
                    done = self.pending.len();
                    break;
                }
                Err(e) => {
                    let valid = done + e.valid_up_to();
                    // Cannot fail: from_utf8 just validated these bytes.
                    out.push_str(
                        std::str::from_utf8(&self.pending[done..valid]).unwrap_or_default(),
                    );
                    done = valid;
                    match e.error_len() {
                        // Bytes that can never become valid: replaced as from_utf8_lossy does.
                        Some(n) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            done += n;
                        }
                        // An incomplete character at the end: wait for more bytes.
                        None => break,
                    }
                }
            }
        }
        self.pending.drain(..done);
        out
    }

    /// Returns whatever is left (an incomplete character becomes U+FFFD) and resets.
    pub fn flush(&mut self) -> String {
        let out = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        out
    }

    /// True when bytes of an unfinished character are held back.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}
