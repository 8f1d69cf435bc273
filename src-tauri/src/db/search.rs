//! Full-text search (FTS5) over conversation titles and message text.

use super::conversations::{from_row, SELECT};
use super::Db;
use crate::error::AppResult;
use crate::types::SearchHit;
use rusqlite::params;
use std::collections::HashMap;

/// Turns what the user typed into an FTS5 query: every word must match, each as a prefix
/// ("pota" finds "potatoes"); FTS5 operators in the input are taken literally.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split_whitespace()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

impl Db {
    /// Best match first; a conversation appears once (with the snippet and id of its best
    /// message in any branch, or neither when only its title matched).
    pub fn search(&self, query: &str) -> AppResult<Vec<SearchHit>> {
        let Some(q) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let conn = self.lock();
        // conversation id -> (score: lower is better, snippet and message id)
        let mut best: HashMap<String, (f64, Option<(String, String)>)> = HashMap::new();
        {
            let mut stmt = conn.prepare(
                "SELECT m.conversation_id, snippet(messages_fts, 0, '', '', '…', 16), bm25(messages_fts), m.id
                 FROM messages_fts JOIN messages m ON m.seq = messages_fts.rowid
                 WHERE messages_fts MATCH ?1 ORDER BY bm25(messages_fts) LIMIT 500",
            )?;
            let rows = stmt.query_map(params![q], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            for row in rows {
                let (id, snippet, score, message_id) = row?;
                let snippet = snippet.split_whitespace().collect::<Vec<_>>().join(" ");
                let entry = best.entry(id).or_insert((f64::INFINITY, None));
                if score < entry.0 {
                    *entry = (score, Some((snippet, message_id)));
                }
            }
        }
        {
            let mut stmt = conn.prepare(
                "SELECT c.id, bm25(conversations_fts) FROM conversations_fts
                 JOIN conversations c ON c.seq = conversations_fts.rowid
                 WHERE conversations_fts MATCH ?1",
            )?;
            let rows = stmt.query_map(params![q], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?))
            })?;
            for row in rows {
                let (id, score) = row?;
                // A title match counts double: titles are short and chosen.
                let score = score * 2.0;
                let entry = best.entry(id).or_insert((f64::INFINITY, None));
                entry.0 = entry.0.min(score);
            }
        }
        let mut ranked: Vec<_> = best.into_iter().collect();
        ranked.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0));
        let mut stmt = conn.prepare(&format!("{SELECT} WHERE c.id = ?1"))?;
        let mut hits = Vec::with_capacity(ranked.len());
        for (id, (_, found)) in ranked {
            if let Ok(conversation) = stmt.query_row([&id], from_row) {
                let (snippet, message_id) = found.unzip();
                hits.push(SearchHit {
                    conversation,
                    snippet,
                    message_id,
                });
            }
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn queries_are_literal_prefixes() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("--"), None);
        assert_eq!(fts_query("pota sal"), Some("\"pota\"* \"sal\"*".into()));
        assert_eq!(fts_query("a\"b OR"), Some("\"a\"\"b\"* \"OR\"*".into()));
    }
}
