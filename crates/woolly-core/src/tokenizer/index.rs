//! Token ids by vocabulary text: the ids sorted by their text and binary-searched, instead
//! of a hash map holding a second copy of every token's text (megabytes for a 50k
//! vocabulary, kept for as long as the model is loaded).

/// The vocabulary texts and their ids in text order.
pub struct TokenIndex {
    tokens: Vec<String>,
    by_text: Vec<u32>,
}

impl TokenIndex {
    pub fn new(tokens: Vec<String>) -> Self {
        let mut by_text: Vec<u32> = (0..tokens.len() as u32).collect();
        // A repeated text maps to its last id, as in llama.cpp: highest id first, then
        // the duplicates after it dropped.
        by_text
            .sort_unstable_by(|&a, &b| tokens[a as usize].cmp(&tokens[b as usize]).then(b.cmp(&a)));
        by_text.dedup_by(|later, kept| tokens[*later as usize] == tokens[*kept as usize]);
        Self { tokens, by_text }
    }

    /// The id whose text is exactly `text`.
    pub fn get(&self, text: &str) -> Option<&u32> {
        let at = self
            .by_text
            .binary_search_by(|&id| self.tokens[id as usize].as_str().cmp(text))
            .ok()?;
        Some(&self.by_text[at])
    }

    /// Every token's text, by id.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_text_and_the_last_of_repeats() {
        let texts = ["b", "a", "ab", "a", "", "zz"];
        let index = TokenIndex::new(texts.iter().map(|s| s.to_string()).collect());
        assert_eq!(index.get("a"), Some(&3));
        assert_eq!(index.get("b"), Some(&0));
        assert_eq!(index.get("ab"), Some(&2));
        assert_eq!(index.get(""), Some(&4));
        assert_eq!(index.get("zz"), Some(&5));
        assert_eq!(index.get("c"), None);
        assert_eq!(index.tokens().len(), 6);
    }
}
