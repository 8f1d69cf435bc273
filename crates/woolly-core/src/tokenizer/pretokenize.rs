//! Pre-tokenizers for byte-level BPE: split text into words before merging.
//!
//! llama.cpp runs a list of regexes in turn; each one splits every piece produced by the
//! previous one, keeps unmatched text between matches as a piece of its own, and cannot look
//! past the end of the piece it works on. The regexes are hand-written here as passes over
//! chars, following llama.cpp's custom GPT-2 / Llama 3 splitters.

use super::unicode::{is_letter, is_number, is_punctuation, is_whitespace};

/// Which regex list `tokenizer.ggml.pre` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreTokenizer {
    /// llama.cpp's fallback: punctuation runs, GPT-2, number runs, then groups of 3 digits.
    Default,
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`.
    Gpt2,
    /// `\p{N}` (every digit alone), then GPT-2.
    Smollm,
    /// The Llama 3 regex (numbers in groups of up to 3).
    Llama3,
    /// The Llama 3 regex with single-digit numbers.
    Qwen2,
}

#[derive(Clone, Copy)]
enum Pass {
    Gpt2,
    Llama3 {
        max_digits: usize,
    },
    /// `X+` for a char class.
    Runs(fn(char) -> bool),
    /// `X` for a char class: every matching char alone.
    Each(fn(char) -> bool),
    /// `[0-9][0-9][0-9]`.
    AsciiDigits3,
}

/// `[\p{P}\$\+<=>\^~\|]`
fn is_default_punct(c: char) -> bool {
    matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '~' | '|') || is_punctuation(c)
}

impl PreTokenizer {
    fn passes(self) -> &'static [Pass] {
        match self {
            PreTokenizer::Default => &[
                Pass::Runs(is_default_punct),
                Pass::Gpt2,
                Pass::Runs(is_number),
                Pass::AsciiDigits3,
            ],
            PreTokenizer::Gpt2 => &[Pass::Gpt2],
            PreTokenizer::Smollm => &[Pass::Each(is_number), Pass::Gpt2],
            PreTokenizer::Llama3 => &[Pass::Llama3 { max_digits: 3 }],
            PreTokenizer::Qwen2 => &[Pass::Llama3 { max_digits: 1 }],
        }
    }

    /// Splits `text` into words; concatenated, they give back `text`.
    pub fn split(self, text: &str) -> Vec<&str> {
        let chars: Vec<char> = text.chars().collect();
        let mut offsets: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        offsets.push(text.len());

        let mut pieces = if chars.is_empty() {
            Vec::new()
        } else {
            vec![(0, chars.len())]
        };
        for pass in self.passes() {
            let mut out = Vec::with_capacity(pieces.len() * 2);
            for &(start, end) in &pieces {
                let mut s = Splitter {
                    chars: &chars,
                    end,
                    prev: start,
                    out: &mut out,
                };
                match *pass {
                    Pass::Gpt2 => s.gpt2(start),
                    Pass::Llama3 { max_digits } => s.llama3(start, max_digits),
                    Pass::Runs(class) => s.matches(start, |c, p, e| {
                        let mut q = p;
                        while q < e && class(c[q]) {
                            q += 1;
                        }
                        q
                    }),
                    Pass::Each(class) => {
                        s.matches(start, |c, p, _| if class(c[p]) { p + 1 } else { p })
                    }
                    Pass::AsciiDigits3 => s.matches(start, |c, p, e| {
                        let three = p + 3 <= e && c[p..p + 3].iter().all(char::is_ascii_digit);
                        if three {
                            p + 3
                        } else {
                            p
                        }
                    }),
                }
            }
            pieces = out;
        }
        pieces
            .into_iter()
            .map(|(s, e)| &text[offsets[s]..offsets[e]])
            .collect()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Letter,
    Number,
    Space,
    Other,
    /// Past the end of the piece: lookahead stops here.
    End,
}

/// Splits one piece `[prev, end)` of `chars`, pushing sub-ranges to `out`.
struct Splitter<'a> {
    chars: &'a [char],
    end: usize,
    /// End of the last emitted range.
    prev: usize,
    out: &'a mut Vec<(usize, usize)>,
}

impl Splitter<'_> {
    fn at(&self, pos: usize) -> Option<char> {
        if pos < self.end {
            Some(self.chars[pos])
        } else {
            None
        }
    }

    fn kind(&self, pos: usize) -> Kind {
        match self.at(pos) {
            None => Kind::End,
            Some(c) if is_whitespace(c) => Kind::Space,
            Some(c) if is_letter(c) => Kind::Letter,
            Some(c) if is_number(c) => Kind::Number,
            Some(_) => Kind::Other,
        }
    }

    /// Ends the current range at `end` (nothing if empty).
    fn emit(&mut self, end: usize) {
        if end > self.prev {
            self.out.push((self.prev, end));
        }
        self.prev = end;
    }

    fn skip_kind(&self, mut pos: usize, kind: Kind) -> usize {
        while self.kind(pos) == kind {
            pos += 1;
        }
        pos
    }

    /// Length of the contraction (`'s`, `'ll`, ...) at `pos`, if any.
    fn contraction(&self, pos: usize, any_case: bool) -> Option<usize> {
        let lower = |c: Option<char>| c.map(|c| if any_case { c.to_ascii_lowercase() } else { c });
        if self.at(pos) != Some('\'') {
            return None;
        }
        match (lower(self.at(pos + 1)), lower(self.at(pos + 2))) {
            (Some('s' | 't' | 'm' | 'd'), _) => Some(2),
            (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l')) => Some(3),
            _ => None,
        }
    }

    /// Whitespace run at `pos`: `\s+(?!\S)` leaves the last space to the next word, unless
    /// the run ends the piece; a single space is taken by `\s+`.
    fn whitespace(&mut self, pos: usize) -> usize {
        let n = self.skip_kind(pos, Kind::Space) - pos;
        let end = if n > 1 && pos + n < self.end {
            pos + n - 1
        } else {
            pos + n.max(1)
        };
        self.emit(end);
        end
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    fn gpt2(&mut self, mut pos: usize) {
        while pos < self.end {
            if let Some(n) = self.contraction(pos, false) {
                pos += n;
                self.emit(pos);
                continue;
            }
            let lead = if self.at(pos) == Some(' ') {
                pos + 1
            } else {
                pos
            };
            let kind = self.kind(lead);
            if matches!(kind, Kind::Letter | Kind::Number | Kind::Other) {
                pos = self.skip_kind(lead, kind);
                self.emit(pos);
                continue;
            }
            pos = self.whitespace(pos);
        }
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}|
    ///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    fn llama3(&mut self, mut pos: usize, max_digits: usize) {
        let is_nl = |c: Option<char>| matches!(c, Some('\r' | '\n'));
        while pos < self.end {
            if let Some(n) = self.contraction(pos, true) {
                pos += n;
                self.emit(pos);
                continue;
            }
            let c = self.at(pos);
            let kind = self.kind(pos);
            // An optional non-letter, non-digit, non-newline char, then letters.
            if !is_nl(c)
                && kind != Kind::Number
                && (kind == Kind::Letter || self.kind(pos + 1) == Kind::Letter)
            {
                pos = self.skip_kind(pos + 1, Kind::Letter);
                self.emit(pos);
                continue;
            }
            if kind == Kind::Number {
                let mut group = pos;
                while self.kind(pos) == Kind::Number {
                    pos += 1;
                    if pos - group >= max_digits {
                        self.emit(pos);
                        group = pos;
                    }
                }
                self.emit(pos);
                continue;
            }
            let lead = if c == Some(' ') { pos + 1 } else { pos };
            if self.kind(lead) == Kind::Other {
                pos = self.skip_kind(lead, Kind::Other);
                while is_nl(self.at(pos)) {
                    pos += 1;
                }
                self.emit(pos);
                continue;
            }
            // `\s*[\r\n]+`: whitespace up to the last newline of the run.
            let run_end = self.skip_kind(pos, Kind::Space);
            if let Some(last_nl) = (pos..run_end).rev().find(|&p| is_nl(self.at(p))) {
                pos = last_nl + 1;
                self.emit(pos);
                continue;
            }
            pos = self.whitespace(pos);
        }
    }

    /// Leftmost-first regex matching: `matcher(chars, pos, end)` returns the end of a match
    /// starting at `pos` (or `pos` for none); text between matches becomes its own piece.
    fn matches(&mut self, mut pos: usize, matcher: impl Fn(&[char], usize, usize) -> usize) {
        while pos < self.end {
            let m = matcher(self.chars, pos, self.end);
            if m > pos {
                self.emit(pos);
                self.emit(m);
                pos = m;
            } else {
                pos += 1;
            }
        }
        self.emit(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::PreTokenizer::{self, *};

    fn check(p: PreTokenizer, text: &str, expected: &[&str]) {
        assert_eq!(p.split(text), expected, "{p:?} on {text:?}");
    }

    #[test]
    fn gpt2_basics() {
        check(Gpt2, "", &[]);
        check(
            Gpt2,
            "   leading and trailing spaces   ",
            &["  ", " leading", " and", " trailing", " spaces", "   "],
        );
        check(
            Gpt2,
            "Hello, world! 123 abc",
            &["Hello", ",", " world", "!", " 123", " abc"],
        );
        check(
            Gpt2,
            "I'm can't they're",
            &["I", "'m", " can", "'t", " they", "'re"],
        );
        check(Gpt2, "DON'T", &["DON", "'", "T"]);
        check(Gpt2, "a\n\n\nb", &["a", "\n\n", "\n", "b"]);
        check(Gpt2, "x \t y", &["x", " \t", " y"]);
        check(Gpt2, "naïve 東京", &["naïve", " 東京"]);
        check(Gpt2, " ", &[" "]);
        check(Gpt2, "a  ", &["a", "  "]);
    }

    #[test]
    fn smollm_splits_every_digit_first() {
        check(
            Smollm,
            "1234567890",
            &["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"],
        );
        check(Smollm, "pi 3.14", &["pi", " ", "3", ".", "1", "4"]);
        // Lookahead stops at the piece end: "  " before a digit piece is kept whole.
        check(Smollm, "a  1", &["a", "  ", "1"]);
        check(Smollm, "x -42", &["x", " -", "4", "2"]);
        check(
            Smollm,
            "tabs\tand\nnewlines\n\n\nand\r\n",
            &[
                "tabs", "\t", "and", "\n", "newlines", "\n\n", "\n", "and", "\r\n",
            ],
        );
    }

    #[test]
    fn llama3_rules() {
        check(Llama3, "Hello world", &["Hello", " world"]);
        check(Llama3, "1234567", &["123", "456", "7"]);
        check(Llama3, "I'M DON'T", &["I", "'M", " DON", "'T"]);
        check(Llama3, "a\n\n  b", &["a", "\n\n", " ", " b"]);
        check(Llama3, "x  \n\t y", &["x", "  \n", "\t", " y"]);
        check(Llama3, "foo()\n\nbar", &["foo", "()\n\n", "bar"]);
        check(Llama3, "$hello .x", &["$hello", " .", "x"]);
        check(Llama3, "\thello", &["\thello"]);
        check(Llama3, "   ", &["   "]);
        check(Llama3, "a   b", &["a", "  ", " b"]);
        check(Llama3, "12abc", &["12", "abc"]);
    }

    #[test]
    fn qwen2_single_digits() {
        check(Qwen2, "x=1234", &["x", "=", "1", "2", "3", "4"]);
    }

    #[test]
    fn default_pipeline() {
        check(Default, "Hello, world!", &["Hello", ",", " world", "!"]);
        check(Default, "12345 x", &["123", "45", " x"]);
        check(Default, "a+=b", &["a", "+=", "b"]);
    }

    #[test]
    fn pieces_cover_the_text() {
        let text = "Mixed: 😀 ½ ٣٤ x\u{3000}y \r\n\r\n 'LL 've\u{85}z";
        for p in [Default, Gpt2, Smollm, Llama3, Qwen2] {
            assert_eq!(p.split(text).concat(), text, "{p:?}");
            assert!(p.split(text).iter().all(|s| !s.is_empty()));
        }
    }
}
