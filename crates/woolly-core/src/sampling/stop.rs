//! Stop sequences that can span token boundaries: text that might be the start of a stop
//! sequence is held back until it is known not to be one.

pub struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

/// What to do with newly generated text.
#[derive(Debug, PartialEq, Eq)]
pub enum StopStatus {
    /// Emit this text (possibly empty while a partial match is held back).
    Continue(String),
    /// A stop sequence was reached; emit this text (the part before it) and stop.
    Stop(String),
}

impl StopMatcher {
    pub fn new(stops: impl IntoIterator<Item = String>) -> Self {
        Self {
            stops: stops.into_iter().filter(|s| !s.is_empty()).collect(),
            pending: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopStatus {
        self.pending.push_str(text);
        if let Some(at) = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let out = self.pending[..at].to_owned();
            self.pending.clear();
            return StopStatus::Stop(out);
        }
        // Hold back the longest suffix that is a prefix of some stop sequence.
        let hold = self
            .stops
            .iter()
            .flat_map(|s| {
                let p = &self.pending;
                (1..s.len().min(p.len() + 1)).filter(move |&n| {
                    p.is_char_boundary(p.len() - n) && s.starts_with(&p[p.len() - n..])
                })
            })
            .max()
            .unwrap_or(0);
        let emit_to = self.pending.len() - hold;
        let out = self.pending[..emit_to].to_owned();
        self.pending.drain(..emit_to);
        StopStatus::Continue(out)
    }

    /// Text still held back when generation ends for another reason.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_across_tokens() {
        let mut m = StopMatcher::new(["\nUser:".to_string()]);
        assert_eq!(m.push("Hello"), StopStatus::Continue("Hello".into()));
        assert_eq!(m.push(" there\nU"), StopStatus::Continue(" there".into()));
        assert_eq!(m.push("se"), StopStatus::Continue("".into()));
        assert_eq!(m.push("r: hi"), StopStatus::Stop("".into()));
    }

    #[test]
    fn false_alarm_is_released() {
        let mut m = StopMatcher::new(["STOP".to_string()]);
        assert_eq!(m.push("ST"), StopStatus::Continue("".into()));
        assert_eq!(m.push("AR"), StopStatus::Continue("STAR".into()));
        assert_eq!(m.push("ok ST"), StopStatus::Continue("ok ".into()));
        assert_eq!(m.flush(), "ST");
    }

    #[test]
    fn multibyte_text_is_not_split() {
        let mut m = StopMatcher::new(["é!".to_string()]);
        assert_eq!(m.push("café"), StopStatus::Continue("caf".into()));
        assert_eq!(m.push("?"), StopStatus::Continue("é?".into()));
    }
}
