//! SentencePiece (BPE flavour) as llama.cpp's `llm_tokenizer_spm_session` does it: starting
//! from single chars, repeatedly merge the adjacent pair whose concatenation is the
//! highest-scoring token; chars left without a token fall back to `<0xNN>` byte tokens.

use super::TokenIndex;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const NONE: usize = usize::MAX;

/// What SentencePiece writes for a space.
pub const SPACE: &str = "\u{2581}";

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
}

struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

// Highest score first, then leftmost.
impl Ord for Bigram {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}

/// Encodes `text` (spaces already escaped as U+2581). `byte_tokens[b]` is the fallback
/// token for byte `b`, if the vocabulary has one.
pub fn encode(
    text: &str,
    vocab: &TokenIndex,
    scores: &[f32],
    byte_tokens: &[Option<u32>; 256],
    out: &mut Vec<u32>,
) {
    let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
    for (i, (start, c)) in text.char_indices().enumerate() {
        let next = if start + c.len_utf8() == text.len() {
            NONE
        } else {
            i + 1
        };
        let prev = if i == 0 { NONE } else { i - 1 };
        syms.push(Symbol {
            start,
            len: c.len_utf8(),
            prev,
            next,
        });
    }

    let mut queue = BinaryHeap::new();
    let push = |queue: &mut BinaryHeap<Bigram>, syms: &[Symbol], l: usize, r: usize| {
        if l == NONE || r == NONE {
            return;
        }
        let len = syms[l].len + syms[r].len;
        let Some(piece) = text.get(syms[l].start..syms[l].start + len) else {
            return;
        };
        if let Some(&id) = vocab.get(piece) {
            let score = scores.get(id as usize).copied().unwrap_or(0.0);
            queue.push(Bigram {
                score,
                left: l,
                right: r,
                len,
            });
        }
    };
    for i in 1..syms.len() {
        push(&mut queue, &syms, i - 1, i);
    }
    while let Some(b) = queue.pop() {
        let (left, right) = (syms[b.left], syms[b.right]);
        // Skip pairs where a side was merged away or grew since the pair was queued.
        if left.len == 0 || right.len == 0 || left.len + right.len != b.len {
            continue;
        }
        syms[b.left].len = b.len;
        syms[b.right].len = 0;
        syms[b.left].next = right.next;
        if right.next != NONE {
            syms[right.next].prev = b.left;
        }
        push(&mut queue, &syms, left.prev, b.left);
        push(&mut queue, &syms, b.left, right.next);
    }

    for s in syms.iter().filter(|s| s.len > 0) {
        let piece = &text[s.start..s.start + s.len];
        match vocab.get(piece) {
            Some(&id) => out.push(id),
            None => out.extend(piece.bytes().filter_map(|b| byte_tokens[b as usize])),
        }
    }
}
