//! The readable export: a title, the model and dates, the system prompt, then each message
//! of the shown thread under a role header with its text as written (Markdown and code
//! blocks intact). Other versions are not written out, only noted: "version 2 of 3" on a
//! message's header and a count of the messages in other branches (the JSON has them all).
//! Files sent with a message follow it, each under its name, its text in a code fence.

use super::Thread;
use crate::types::Message;
use crate::types::Role;
use std::fmt::Write;

/// `2024-05-01 14:03 UTC` from Unix milliseconds.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.is_empty() {
                ">".to_string()
            } else {
                format!("> {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every thread, one after the other, separated by rules.
pub fn to_markdown(threads: &[Thread], exported_at: i64) -> String {
    let mut out = String::new();
    for (i, t) in threads.iter().enumerate() {
        let (c, messages) = (&t.conversation, &t.messages);
        if i > 0 {
            out.push_str("\n\n---\n\n");
        }
        let _ = writeln!(out, "# {}\n", c.title.replace('\n', " "));
        if let Some(model) = &c.model_id {
            let _ = writeln!(out, "- Model: {model}");
        }
        let _ = writeln!(out, "- Created: {}", utc(c.created_at));
        let _ = writeln!(out, "- Updated: {}", utc(c.updated_at));
        let _ = writeln!(out, "- Exported: {}", utc(exported_at));
        let _ = writeln!(out, "- Messages: {}", messages.len());
        let elsewhere = t.all.len().saturating_sub(messages.len());
        if elsewhere > 0 {
            let _ = writeln!(
                out,
                "- Other versions: {elsewhere} more message{} in other branches, not shown",
                if elsewhere == 1 { "" } else { "s" }
            );
        }
        if !c.system_prompt.trim().is_empty() {
            let _ = writeln!(out, "\n## System prompt\n\n{}", quote(&c.system_prompt));
        }
        for m in messages {
            let who = match m.role {
                Role::User => "User".to_string(),
                Role::Assistant => match &m.model_id {
                    Some(model) => format!("Assistant ({model})"),
                    None => "Assistant".to_string(),
                },
            };
            let _ = write!(
                out,
                "\n## {who}{}\n\n*{}*\n\n",
                version_note(m),
                utc(m.created_at)
            );
            out.push_str(&m.content);
            // A reply cut inside an open code fence must not swallow what follows.
            if m.content
                .lines()
                .filter(|l| l.trim_start().starts_with("```"))
                .count()
                % 2
                == 1
            {
                out.push_str("\n```");
            }
            out.push('\n');
            for a in t.attachments_of(&m.id) {
                let _ = write!(out, "\n**Attached file: {}**", a.name.replace('\n', " "));
                if let Some(note) = &a.note {
                    let _ = write!(out, " ({note})");
                }
                let fence = fence_for(&a.text);
                let _ = writeln!(
                    out,
                    "\n\n{fence}\n{}\n{fence}",
                    a.text.trim_end_matches('\n')
                );
            }
        }
    }
    out
}

/// A backtick fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// ` · version 2 of 3` for a message with other versions.
fn version_note(m: &Message) -> String {
    if m.versions > 1 {
        format!(" · version {} of {}", m.version, m.versions)
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Conversation, SamplingParams};

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_714_572_180_000), "2024-05-01 14:03 UTC");
        assert_eq!(utc(-60_000), "1969-12-31 23:59 UTC");
    }

    #[test]
    fn readable_with_code_intact() {
        let c = Conversation {
            id: "c".into(),
            title: "Sorting".into(),
            created_at: 0,
            updated_at: 60_000,
            system_prompt: "Be brief.\n\nUse Rust.".into(),
            params: SamplingParams::default(),
            model_id: Some("tiny.gguf".into()),
            message_count: 2,
        };
        let msg = |role, content: &str| Message {
            id: String::new(),
            conversation_id: "c".into(),
            role,
            content: content.into(),
            created_at: 0,
            stats: None,
            model_id: None,
            parent_id: None,
            version: 1,
            versions: 1,
        };
        let code = "Here:\n\n```rust\nfn main() {\n    v.sort();\n}\n```";
        let messages = vec![
            msg(Role::User, "How do I sort?"),
            Message {
                version: 2,
                versions: 2,
                ..msg(Role::Assistant, code)
            },
        ];
        let mut all = messages.clone();
        all.push(msg(Role::Assistant, "An older reply"));
        let md = to_markdown(
            &[Thread {
                conversation: c,
                messages,
                all,
                attachments: vec![],
            }],
            0,
        );
        assert!(md.starts_with("# Sorting\n\n- Model: tiny.gguf\n"), "{md}");
        assert!(
            md.contains("## System prompt\n\n> Be brief.\n>\n> Use Rust.\n"),
            "{md}"
        );
        assert!(
            md.contains("## User\n\n*1970-01-01 00:00 UTC*\n\nHow do I sort?\n"),
            "{md}"
        );
        assert!(
            md.contains(&format!(
                "## Assistant · version 2 of 2\n\n*1970-01-01 00:00 UTC*\n\n{code}\n"
            )),
            "{md}"
        );
        assert!(
            md.contains("- Other versions: 1 more message in other branches"),
            "{md}"
        );
        assert!(!md.contains("An older reply"), "{md}");
        assert_eq!(fence_for("no code"), "```");
        assert_eq!(fence_for("```rust\n````\n"), "`````");
        let open = to_markdown(&[], 0);
        assert!(open.is_empty());
    }
}
