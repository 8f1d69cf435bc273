//! Byte-level BPE (GPT-2 style), as llama.cpp's `llm_tokenizer_bpe_session` does it.

use super::TokenIndex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::unicode::byte_to_char;

const NONE: usize = usize::MAX;

/// Merge ranks from `tokenizer.ggml.merges`.
#[derive(Debug, Default)]
pub struct Bpe {
    /// Keyed by the merged text so a lookup needs no allocation; each entry is
    /// (byte length of the left part, rank). Different splits of one text can coexist.
    merges: HashMap<String, Vec<(usize, u32)>>,
    /// Llama 3: a word that is already a token is emitted without merging.
    pub ignore_merges: bool,
}

#[derive(Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: usize,
    next: usize,
}

impl Bpe {
    /// `merges` are "left right" strings, highest priority first.
    pub fn new(merges: &[String], ignore_merges: bool) -> Self {
        let mut map: HashMap<String, Vec<(usize, u32)>> = HashMap::with_capacity(merges.len());
        for (rank, m) in merges.iter().enumerate() {
            // llama.cpp splits at the first space after the first byte
            // (byte-wise: a space is never inside a multi-byte char).
            let Some(pos) = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
                continue;
            };
            let (left, right) = (&m[..pos], &m[pos + 1..]);
            let entry = map.entry(format!("{left}{right}")).or_default();
            // A repeated merge keeps its first (best) rank.
            if !entry.iter().any(|&(l, _)| l == left.len()) {
                entry.push((left.len(), rank as u32));
            }
        }
        Bpe {
            merges: map,
            ignore_merges,
        }
    }

    fn rank(&self, word: &str, left: Symbol, right: Symbol) -> Option<u32> {
        let text = word.get(left.start..right.start + right.len)?;
        let splits = self.merges.get(text)?;
        splits
            .iter()
            .find(|&&(l, _)| l == left.len)
            .map(|&(_, r)| r)
    }

    /// Encodes one pre-tokenized word (raw UTF-8) into token ids.
    pub fn encode_word(&self, raw: &str, vocab: &TokenIndex, out: &mut Vec<u32>) {
        let word: String = raw.bytes().map(byte_to_char).collect();
        if self.ignore_merges {
            if let Some(&id) = vocab.get(&word) {
                out.push(id);
                return;
            }
        }

        let mut syms: Vec<Symbol> = Vec::with_capacity(word.len());
        for (i, (start, c)) in word.char_indices().enumerate() {
            let next = if start + c.len_utf8() == word.len() {
                NONE
            } else {
                i + 1
            };
            syms.push(Symbol {
                start,
                len: c.len_utf8(),
                prev: i.wrapping_sub(1),
                next,
            });
        }
        if let Some(first) = syms.first_mut() {
            first.prev = NONE;
        }

        // Lowest rank first, then leftmost; entries remember the lengths they saw so that
        // stale ones (a side was merged meanwhile) are skipped.
        let mut queue = BinaryHeap::new();
        let push = |queue: &mut BinaryHeap<_>, syms: &[Symbol], l: usize, r: usize| {
            if l == NONE || r == NONE {
                return;
            }
            if let Some(rank) = self.rank(&word, syms[l], syms[r]) {
                queue.push(Reverse((rank, l, r, syms[l].len, syms[r].len)));
            }
        };
        for i in 1..syms.len() {
            push(&mut queue, &syms, i - 1, i);
        }
        while let Some(Reverse((_, l, r, l_len, r_len))) = queue.pop() {
            let (left, right) = (syms[l], syms[r]);
            if left.len != l_len || right.len != r_len || left.next != r {
                continue;
            }
            syms[l].len += right.len;
            syms[r].len = 0;
            syms[l].next = right.next;
            if right.next != NONE {
                syms[right.next].prev = l;
            }
            push(&mut queue, &syms, syms[l].prev, l);
            push(&mut queue, &syms, l, syms[l].next);
        }

        for s in syms.iter().filter(|s| s.len > 0) {
            let text = &word[s.start..s.start + s.len];
            match vocab.get(text) {
                Some(&id) => out.push(id),
                // Not a token: llama.cpp falls back to single-byte tokens of the encoded text.
                None => {
                    for b in text.bytes().filter(u8::is_ascii) {
                        if let Some(&id) = vocab.get(char::from(b).encode_utf8(&mut [0; 4]) as &str)
                        {
                            out.push(id);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab(tokens: &[&str]) -> TokenIndex {
        TokenIndex::new(tokens.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn merges_follow_rank_order() {
        let v = vocab(&["a", "b", "c", "ab", "bc", "abc", "Ġ", "Ġa"]);
        let merges: Vec<String> = ["b c", "a b", "a bc", "Ġ a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let bpe = Bpe::new(&merges, false);
        let mut out = Vec::new();
        bpe.encode_word("abc", &v, &mut out);
        assert_eq!(out, [5]); // "b c" first, then "a bc"
        out.clear();
        bpe.encode_word("abab", &v, &mut out);
        assert_eq!(out, [3, 3]);
        out.clear();
        bpe.encode_word(" a", &v, &mut out);
        assert_eq!(out, [7]);
        out.clear();
        bpe.encode_word("ax", &v, &mut out); // 'x' is no token: dropped like llama.cpp does
        assert_eq!(out, [0]);
    }
}
