//! Model names are plain file names inside the store: anything that could reach outside
//! it (separators, `..`, absolute paths, drive letters, hidden files) is rejected up front.

use crate::error::{HubError, Result};

const MAX_LEN: usize = 200;

/// Checks that `name` is a safe file name for the store and ends in `.gguf`.
pub fn validate_model_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(HubError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > MAX_LEN {
        return bad("must be 1 to 200 characters");
    }
    if name.starts_with('.') {
        return bad("must not start with a dot");
    }
    // A whitelist rather than a blacklist: no separator, colon, control character or
    // shell-surprising character can slip through on any OS.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    {
        return bad("only letters, digits and - _ . + are allowed");
    }
    if name.contains("..") {
        return bad("must not contain \"..\"");
    }
    if !name.to_ascii_lowercase().ends_with(".gguf") || name.len() <= ".gguf".len() {
        return bad("must end in .gguf");
    }
    Ok(())
}

/// The model name a URL implies: its last path segment, percent-decoded.
pub fn name_from_url(url: &reqwest::Url) -> Result<String> {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    let decoded = percent_decode(last);
    validate_model_name(&decoded)?;
    Ok(decoded)
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_hub_file_names() {
        for n in [
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "qwen2.5-0.5b-instruct-q4_k_m.gguf",
            "a+b.GGUF",
        ] {
            validate_model_name(n).unwrap();
        }
    }

    #[test]
    fn rejects_escapes() {
        for n in [
            "",
            "..",
            "../x.gguf",
            "a/../../x.gguf",
            "/etc/passwd",
            "C:\\x.gguf",
            "c:x.gguf",
            ".hidden.gguf",
            "x.gguf/",
            "a\\b.gguf",
            "x\0.gguf",
            "model.bin",
            ".gguf",
            "a..gguf",
            "x y.gguf",
        ] {
            assert!(validate_model_name(n).is_err(), "{n:?} accepted");
        }
    }

    #[test]
    fn decodes_url_names() {
        let url = reqwest::Url::parse("http://h/a/b/My%2Bmodel.gguf?download=true").unwrap();
        assert_eq!(name_from_url(&url).unwrap(), "My+model.gguf");
        let url = reqwest::Url::parse("http://h/a/..%2F..%2Fx.gguf").unwrap();
        assert!(name_from_url(&url).is_err());
    }
}
