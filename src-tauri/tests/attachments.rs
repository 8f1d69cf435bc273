//! Files in a chat: real files read from disk (a text file, a Markdown file, a PDF written
//! by hand here, a binary file), their text, the prompt format against a hand-written
//! string, token counts against the test model's tokenizer, the meter's parts, and the
//! way out of `context_full` by dropping an attachment.

mod support;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use support::{greedy_with, Harness};
use woolly_core::chat::ChatMessage;
use woolly_core::engine::Prompt;
use woolly_desktop::attachments::{self, AttachmentKind};

const SYSTEM: &str = "You are a helpful assistant.";

/// A small but complete PDF (two pages, the standard Helvetica font, WinAnsi text), with
/// its cross-reference table computed as it is written.
fn tiny_pdf(pages: &[&[&str]]) -> Vec<u8> {
    let mut objects: Vec<String> = Vec::new();
    let n = pages.len();
    // 1 catalog, 2 pages, 3 font, then page i at 4 + 2i and its content at 5 + 2i.
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push(
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".into(),
    );
    for (i, lines) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {} 0 R /Resources << /Font << /F1 3 0 R >> >> >>",
            5 + 2 * i
        ));
        let mut content = String::from("BT /F1 14 Tf 72 720 Td 18 TL\n");
        for line in *lines {
            content.push_str(&format!("({line}) Tj T*\n"));
        }
        content.push_str("ET");
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    let mut out = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn reads_text_markdown_code_and_pdf_files_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = write(
        dir.path(),
        "report.pdf",
        &tiny_pdf(&[
            &["Quarterly report", "The secret word is marmalade."],
            &["Page two says goodbye."],
        ]),
    );
    let a = attachments::read(&pdf).expect("the PDF");
    assert_eq!(a.kind, AttachmentKind::Pdf);
    assert_eq!(a.name, "report.pdf");
    let lines: Vec<&str> = a
        .text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "Quarterly report",
            "The secret word is marmalade.",
            "Page two says goodbye."
        ],
        "{:?}",
        a.text
    );
    assert_eq!(a.size_bytes, std::fs::metadata(&pdf).unwrap().len());

    let code = write(
        dir.path(),
        "main.rs",
        b"fn main() {\n    println!(\"hi\");\n}\n",
    );
    let a = attachments::read(&code).unwrap();
    assert_eq!((a.kind, a.note.as_deref()), (AttachmentKind::Text, None));
    assert_eq!(a.text, "fn main() {\n    println!(\"hi\");\n}\n");

    let latin1 = write(dir.path(), "notes.txt", b"Caf\xe9 au lait\n");
    let a = attachments::read(&latin1).unwrap();
    assert_eq!(a.text, "Caf\u{FFFD} au lait\n");
    assert_eq!(
        a.note.as_deref(),
        Some("Not valid UTF-8: 1 byte was shown as \u{FFFD}.")
    );

    let png = write(dir.path(), "logo.png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let e = attachments::read(&png).unwrap_err();
    assert!(
        e.message.starts_with("logo.png: Not a text file"),
        "{}",
        e.message
    );

    let big = write(
        dir.path(),
        "big.txt",
        &vec![b'x'; attachments::MAX_TEXT_BYTES + 1],
    );
    let e = attachments::read(&big).unwrap_err();
    assert!(e.message.contains("too large"), "{}", e.message);

    let broken = write(dir.path(), "broken.pdf", b"%PDF-1.4\nnot really a pdf");
    assert!(attachments::read(&broken).is_err());
}

#[test]
fn the_prompt_format_is_the_documented_one() {
    let notes = attachments::from_bytes("notes.md", b"# Plan\n\n```sh\nmake test\n```\n").unwrap();
    let pdf = attachments::from_bytes(
        "report.pdf",
        &tiny_pdf(&[&["The secret word is marmalade."]]),
    )
    .unwrap();
    let content = attachments::prompt_content("What should I run?", &[&notes, &pdf]);
    let expected = "File: notes.md\n\
                    ````markdown\n\
                    # Plan\n\
                    \n\
                    ```sh\n\
                    make test\n\
                    ```\n\
                    ````\n\
                    \n\
                    File: report.pdf (text extracted from the PDF)\n\
                    ```text\n\
                    The secret word is marmalade.\n\
                    ```\n\
                    \n\
                    What should I run?";
    assert_eq!(content, expected);
    // Files without text after them.
    assert_eq!(
        attachments::prompt_content("", &[&pdf]),
        "File: report.pdf (text extracted from the PDF)\n```text\nThe secret word is marmalade.\n```"
    );
    // The documentation shows the same example.
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/attachments.md"))
            .unwrap();
    assert!(
        doc.contains(expected),
        "docs/attachments.md must show the format"
    );
}

/// A drop on the window: read in Rust, announced on the `watch_drops` channel.
fn drop_files(h: &Harness, paths: &[PathBuf]) -> Value {
    let (ch_id, ch) = h.channel();
    h.invoke("watch_drops", json!({ "onDrop": ch })).unwrap();
    h.state().attachments.dropped(paths);
    assert!(h.wait_for(ch_id, Duration::from_secs(10), |e| !e.is_empty()));
    h.events(ch_id)[0].clone()
}

fn new_chat(h: &Harness, context_length: u32) -> String {
    let c = h
        .invoke("create_conversation", json!({ "title": null }))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy_with(h, &id, 8, context_length, SYSTEM);
    id
}

#[test]
fn dropped_files_count_in_the_meter_go_with_the_message_and_into_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = new_chat(&h, 2048);
    let pdf = write(
        dir.path(),
        "report.pdf",
        &tiny_pdf(&[&["The secret word is marmalade."]]),
    );
    let md = write(
        dir.path(),
        "plan.md",
        b"# Plan\n\n1. Bake bread.\n2. Eat it.\n",
    );
    let bin = write(dir.path(), "photo.jpg", b"\xff\xd8\xff\xe0\0\x10JFIF\0");
    let outcome = drop_files(&h, &[pdf, md, bin]);
    let list = outcome["attachments"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{outcome}");
    assert_eq!(list[0]["name"], "report.pdf");
    assert_eq!(list[0]["kind"], "pdf");
    assert_eq!(list[1]["name"], "plan.md");
    assert!(list[0].get("text").is_none(), "the text stays in Rust");
    assert_eq!(outcome["errors"].as_array().unwrap().len(), 1);
    assert!(outcome["errors"][0]
        .as_str()
        .unwrap()
        .starts_with("photo.jpg: Not a text file"));
    let ids: Vec<String> = list
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect();

    // A first message loads the model (counting never loads one).
    let (_, ch) = h.channel();
    h.invoke(
        "send_message",
        json!({ "conversationId": id, "content": "Hello!", "onEvent": ch }),
    )
    .unwrap();
    let engine = h.state().engine.current().expect("loaded");
    let history: Vec<ChatMessage> = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = m["content"].as_str().unwrap();
            if m["role"] == "user" {
                ChatMessage::user(text)
            } else {
                ChatMessage::assistant(text)
            }
        })
        .collect();

    // The meter with the draft and both pending files, by part.
    let draft = "What is the secret word?";
    let usage = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": draft, "attachmentIds": ids }),
        )
        .unwrap();
    let files: Vec<_> = h.state().attachments.get(&ids).unwrap();
    let refs: Vec<_> = files.iter().collect();
    let mut chat = vec![ChatMessage::system(SYSTEM)];
    chat.extend(history.iter().cloned());
    chat.push(ChatMessage::user(attachments::prompt_content(draft, &refs)));
    let expected = engine
        .prompt_tokens(&Prompt::Chat(chat.clone()))
        .unwrap()
        .len() as u64;
    assert_eq!(usage["promptTokens"].as_u64().unwrap(), expected);
    for (i, a) in files.iter().enumerate() {
        let tokens = engine
            .tokenizer()
            .encode(&attachments::render(a), false, false)
            .len() as u64;
        assert_eq!(usage["attachments"][i]["id"], a.id.as_str());
        assert_eq!(usage["attachments"][i]["tokens"].as_u64().unwrap(), tokens);
        assert_eq!(usage["attachments"][i]["sent"], false);
    }
    let system = engine
        .prompt_tokens(&Prompt::Chat(vec![ChatMessage::system(SYSTEM)]))
        .unwrap()
        .len() as u64;
    assert_eq!(usage["systemTokens"].as_u64().unwrap(), system);
    let attached: u64 = usage["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(usage["attachmentTokens"].as_u64().unwrap(), attached);
    assert_eq!(
        usage["systemTokens"].as_u64().unwrap()
            + usage["historyTokens"].as_u64().unwrap()
            + usage["attachmentTokens"].as_u64().unwrap(),
        expected
    );
    assert!(usage["historyTokens"].as_u64().unwrap() > 0);

    // Sent: saved with the user message, no longer pending, and in the prompt.
    let (ch_id, ch) = h.channel();
    let result = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": draft, "attachmentIds": ids, "onEvent": ch }),
        )
        .unwrap();
    let user_id = result["userMessage"]["id"].as_str().unwrap();
    assert_eq!(
        result["userMessage"]["content"], draft,
        "the message keeps the user's text"
    );
    let started = h
        .events(ch_id)
        .into_iter()
        .find(|e| e["event"] == "started")
        .unwrap();
    assert_eq!(started["data"]["promptTokens"].as_u64().unwrap(), expected);
    let saved = h
        .invoke("list_attachments", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(saved.as_array().unwrap().len(), 2);
    assert_eq!(saved[0]["messageId"], user_id);
    assert_eq!(saved[0]["name"], "report.pdf");
    assert!(h.state().attachments.get(&ids).is_err());
    let again = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": "again", "attachmentIds": ids, "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(again["code"], "not_found");

    // The meter now counts them as sent.
    let usage = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": "" }),
        )
        .unwrap();
    assert_eq!(usage["attachments"][0]["sent"], true);
    assert_eq!(usage["attachmentTokens"].as_u64().unwrap(), attached);

    // Reopening the database keeps them.
    drop(h);
    let h = Harness::open(dir.path());
    let saved = h
        .invoke("list_attachments", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(saved.as_array().unwrap().len(), 2);
    // Deleting the conversation deletes them.
    h.invoke("delete_conversation", json!({ "conversationId": id }))
        .unwrap();
    assert!(h.state().db.attachments(&id).unwrap().is_empty());
}

#[test]
fn a_file_that_does_not_fit_asks_first_and_can_be_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = new_chat(&h, 256);
    let long: String = (0..60)
        .map(|i| format!("Line {i}: the quick brown fox jumps over the lazy dog.\n"))
        .collect();
    let path = write(dir.path(), "long.txt", long.as_bytes());
    let outcome = drop_files(&h, &[path]);
    let att = outcome["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();

    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": "Summarize this.", "attachmentIds": [att], "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "context_full", "{err}");
    let o = &err["context"];
    assert_eq!(o["dropMessages"], Value::Null, "no older turn to drop: {o}");
    assert_eq!(o["attachments"][0]["id"], att.as_str());
    assert_eq!(o["attachments"][0]["name"], "long.txt");
    assert!(o["attachments"][0]["tokens"].as_u64().unwrap() > 256);
    assert!(err["message"].as_str().unwrap().contains("attached file"));
    // Nothing was cut: the file is saved whole with the message.
    let saved = h.state().db.attachments(&id).unwrap();
    assert_eq!(saved[0].text, long);

    // The user drops the file; the question is answered without it.
    h.invoke("remove_attachment", json!({ "attachmentId": att }))
        .unwrap();
    assert!(h.state().db.attachments(&id).unwrap().is_empty());
    let (_, ch) = h.channel();
    let result = h
        .invoke("regenerate", json!({ "conversationId": id, "onEvent": ch }))
        .expect("fits without the file");
    assert!(
        result["assistantMessage"]["stats"]["promptTokens"]
            .as_u64()
            .unwrap()
            < 100
    );
    let missing = h
        .invoke("remove_attachment", json!({ "attachmentId": att }))
        .unwrap_err();
    assert_eq!(missing["code"], "not_found");
}

#[test]
fn an_edited_message_keeps_its_files_and_other_branches_stay_out_of_the_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = new_chat(&h, 2048);
    let md = write(
        dir.path(),
        "plan.md",
        b"# Plan\n\n1. Bake bread.\n2. Eat it.\n",
    );
    let outcome = drop_files(&h, &[md]);
    let att = outcome["attachments"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, ch) = h.channel();
    let first = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": "What is step 1?", "attachmentIds": [att], "onEvent": ch }),
        )
        .unwrap();
    let first_id = first["userMessage"]["id"].as_str().unwrap().to_string();

    // Edit: the new version (a sibling of the first) is sent with a copy of its file.
    let (_, ch) = h.channel();
    let edited = h
        .invoke(
            "edit_and_resend",
            json!({ "conversationId": id, "messageId": first_id, "content": "What is step 2?", "onEvent": ch }),
        )
        .unwrap();
    let edited_id = edited["userMessage"]["id"].as_str().unwrap().to_string();
    assert_ne!(edited_id, first_id);
    let saved = h
        .invoke("list_attachments", json!({ "conversationId": id }))
        .unwrap();
    let saved = saved.as_array().unwrap();
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert_eq!(saved[0]["messageId"], first_id.as_str());
    assert_eq!(saved[1]["messageId"], edited_id.as_str());
    assert_eq!(saved[1]["name"], "plan.md");
    assert_ne!(saved[0]["id"], saved[1]["id"]);
    let stored = h.state().db.attachments(&id).unwrap();
    assert_eq!(stored[0].text, stored[1].text);

    // The meter counts the shown thread's file only, not the other version's copy.
    let usage = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": "" }),
        )
        .unwrap();
    let listed = usage["attachments"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{usage}");
    assert_eq!(listed[0]["id"], saved[1]["id"]);
    assert_eq!(listed[0]["sent"], true);
}
