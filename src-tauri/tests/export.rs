//! Export and import on real SQLite files: a JSON export read back into another history
//! gives the same conversations (messages, roles, order, system prompt, parameters,
//! statistics); a bad file gets a clear error and changes nothing.

use woolly_desktop::db::Db;
use woolly_desktop::export::{self, ExportFormat};
use woolly_desktop::types::{GenerationStats, Role, SamplingParams, StopReason};
use woolly_desktop::ErrorCode;

const CODE_REPLY: &str = "Use `sort`:\n\n```rust\nlet mut v = vec![3, 1, 2];\nv.sort();\nassert_eq!(v, [1, 2, 3]);\n```\n\nDone — «ünïcödé» too.";

/// A history with two conversations; returns it and the first one's id.
fn history(dir: &std::path::Path) -> (Db, String) {
    let db = Db::open(&dir.join("history.db")).unwrap();
    let params = SamplingParams {
        temperature: 0.2,
        seed: Some(42),
        max_tokens: 300,
        context_length: 8192,
        ..SamplingParams::default()
    };
    let c = db
        .create_conversation(
            Some("Sorting in Rust"),
            "Be brief.\nAnswer in Rust.",
            &params,
            Some("tiny.gguf"),
        )
        .unwrap();
    let q = db
        .add_user_message(&c.id, "How do I sort a vector?")
        .unwrap();
    let r = db.start_reply(&c.id, &q.id, Some("tiny.gguf")).unwrap();
    let stats = GenerationStats {
        prompt_tokens: 40,
        generated_tokens: 30,
        tokens_per_second: 12.5,
        time_to_first_token_ms: 80,
        stop_reason: StopReason::Eos,
        context_length: Some(8192),
        dropped_messages: Some(2),
    };
    db.finish_reply(&r.id, CODE_REPLY, Some(&stats)).unwrap();
    db.add_user_message(&c.id, "And in reverse?").unwrap();
    let other = db
        .create_conversation(Some("Other"), "", &SamplingParams::default(), None)
        .unwrap();
    db.add_user_message(&other.id, "hi").unwrap();
    (db, c.id)
}

/// What must survive a round trip, per conversation (ids and import times aside).
fn essence(db: &Db) -> Vec<serde_json::Value> {
    let mut out: Vec<_> = db
        .list_conversations()
        .unwrap()
        .into_iter()
        .map(|c| {
            let messages: Vec<_> = db
                .messages(&c.id)
                .unwrap()
                .into_iter()
                .map(|m| serde_json::json!([m.role, m.content, m.created_at, m.stats, m.model_id]))
                .collect();
            serde_json::json!({
                "title": c.title, "createdAt": c.created_at, "systemPrompt": c.system_prompt,
                "params": c.params, "modelId": c.model_id, "count": c.message_count,
                "messages": messages,
            })
        })
        .collect();
    out.sort_by_key(|v| v["title"].to_string());
    out
}

#[test]
fn json_export_round_trips_into_another_history() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = history(dir.path());
    let path = dir.path().join("out/all.json");
    let threads = export::threads(&db, None).unwrap();
    export::write(&path, &threads, ExportFormat::Json).unwrap();

    let file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(file["format"], "woolly.conversations");
    assert_eq!(file["version"], 2);
    assert_eq!(file["conversations"].as_array().unwrap().len(), 2);
    let sorting = &file["conversations"][1];
    assert_eq!(sorting["title"], "Sorting in Rust");
    assert_eq!(sorting["systemPrompt"], "Be brief.\nAnswer in Rust.");
    assert_eq!(sorting["params"]["seed"], 42);
    assert_eq!(sorting["messages"][1]["role"], "assistant");
    assert_eq!(sorting["messages"][1]["stats"]["droppedMessages"], 2);

    let other_dir = tempfile::tempdir().unwrap();
    let target = Db::open(&other_dir.path().join("history.db")).unwrap();
    let bytes = export::read_file(&path).unwrap();
    let imported = export::import(&target, &bytes).unwrap();
    assert_eq!(imported.len(), 2);
    assert_eq!(essence(&target), essence(&db));
    // The file's first conversation is listed first.
    assert_eq!(target.list_conversations().unwrap()[0].id, imported[0].id);
    let sorting = imported
        .iter()
        .find(|c| c.title == "Sorting in Rust")
        .unwrap();
    let messages = target.messages(&sorting.id).unwrap();
    let roles: Vec<_> = messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    assert_eq!(messages[1].content, CODE_REPLY);
    // Imported text is searchable like any other.
    let hits = target.search("reverse").unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation.id, sorting.id);

    // Importing into the same history adds copies, the originals untouched.
    let before = essence(&db);
    export::import(&db, &bytes).unwrap();
    let after = essence(&db);
    assert_eq!(after.len(), 4);
    for c in &before {
        assert_eq!(after.iter().filter(|a| *a == c).count(), 2);
    }
}

#[test]
fn one_conversation_exports_as_markdown_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (db, id) = history(dir.path());
    let threads = export::threads(&db, Some(std::slice::from_ref(&id))).unwrap();
    let md_path = dir
        .path()
        .join(export::file_name("Sorting in Rust", ExportFormat::Markdown));
    export::write(&md_path, &threads, ExportFormat::Markdown).unwrap();
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(
        md.starts_with("# Sorting in Rust\n\n- Model: tiny.gguf\n"),
        "{md}"
    );
    assert!(md.contains("\n## System prompt\n\n> Be brief.\n> Answer in Rust.\n"));
    assert!(md.contains("\n## User\n"));
    assert!(md.contains("\n## Assistant (tiny.gguf)\n"));
    assert!(md.contains(CODE_REPLY), "the code block is intact");
    assert!(!md.contains("Other"), "only the chosen conversation");
    let user = md.find("How do I sort").unwrap();
    let reply = md.find("```rust").unwrap();
    let again = md.find("And in reverse?").unwrap();
    assert!(user < reply && reply < again, "in order");

    let json = export::render(&threads, ExportFormat::Json, 0).unwrap();
    let file = export::parse(json.as_bytes()).unwrap();
    assert_eq!(file.conversations.len(), 1);
    assert_eq!(file.conversations[0].messages.len(), 3);

    assert_eq!(
        export::file_name("a/b: c?*", ExportFormat::Json),
        "a-b- c--.json"
    );
    assert_eq!(
        export::file_name("  ..  ", ExportFormat::Markdown),
        "conversation.md"
    );
    let missing = export::threads(&db, Some(&["nope".to_string()])).unwrap_err();
    assert_eq!(missing.code, ErrorCode::NotFound);
}

#[test]
fn a_bad_file_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = history(dir.path());
    let good = export::to_json(&export::threads(&db, None).unwrap(), 0).unwrap();
    let before = essence(&db);
    let newer = good.replacen("\"version\": 2", "\"version\": 3", 1);
    let bad_role = good.replacen("\"role\": \"user\"", "\"role\": \"system\"", 1);
    let bad_params = good.replacen("\"temperature\": 0.2", "\"temperature\": 9.0", 1);
    let other_format = good.replacen("woolly.conversations", "something.else", 1);
    let no_title = good.replacen("\"title\": \"Other\"", "\"title\": \" \"", 1);
    assert!(newer != good && bad_role != good && bad_params != good && no_title != good);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good.as_bytes()[..good.len() / 2].to_vec(),
            "cut short",
        ),
        (
            "one byte short",
            good.as_bytes()[..good.len() - 1].to_vec(),
            "cut short",
        ),
        ("empty", Vec::new(), "cut short"),
        ("not JSON", b"# Sorting in Rust\n".to_vec(), "not a Woolly"),
        ("not UTF-8", vec![0xff, 0xfe, b'{'], "UTF-8"),
        ("another format", other_format.into_bytes(), "\"format\""),
        ("a JSON array", b"[1, 2]".to_vec(), "not a Woolly"),
        ("newer version", newer.into_bytes(), "update Woolly"),
        ("unknown role", bad_role.into_bytes(), "not a Woolly"),
        ("invalid parameters", bad_params.into_bytes(), "Temperature"),
        ("blank title", no_title.into_bytes(), "title"),
    ];
    for (what, bytes, says) in cases {
        let e = export::import(&db, &bytes).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{what}: {}", e.message);
        assert!(e.message.contains(says), "{what}: {}", e.message);
        assert!(
            e.message.contains("Nothing was imported"),
            "{what}: {}",
            e.message
        );
        assert_eq!(essence(&db), before, "{what} changed the history");
    }
    // A file that cannot be read.
    let e = export::read_file(&dir.path().join("missing.json")).unwrap_err();
    assert_eq!(e.code, ErrorCode::Io);
    // The good file still imports.
    assert_eq!(export::import(&db, good.as_bytes()).unwrap().len(), 2);
}

/// Files sent with a message travel with it: the JSON carries each one's name, kind, size,
/// note and text, an import restores them on the copy's message; the Markdown shows them
/// under the message in a fence their own backticks cannot close. A file that attaches
/// files to a reply, or names one with a path, is refused and changes nothing.
#[test]
fn attached_files_are_exported_and_imported() {
    use woolly_desktop::attachments::{Attachment, AttachmentKind};
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("history.db")).unwrap();
    let c = db
        .create_conversation(Some("With files"), "", &SamplingParams::default(), None)
        .unwrap();
    let q = db.add_user_message(&c.id, "What is in them?").unwrap();
    let file = |id: &str, name: &str, kind, text: &str, note: Option<&str>| Attachment {
        id: id.into(),
        name: name.into(),
        kind,
        size_bytes: 1000 + text.len() as u64,
        chars: text.chars().count() as u32,
        note: note.map(Into::into),
        message_id: None,
        text: text.into(),
    };
    let notes = "# Pantry\n\n```\nmarmalade\n```\n";
    db.add_attachments(
        &q.id,
        &[
            file("a1", "notes.md", AttachmentKind::Text, notes, None),
            file(
                "a2",
                "report.pdf",
                AttachmentKind::Pdf,
                "Quarterly \u{FFFD} figures",
                Some("1 byte was not UTF-8"),
            ),
        ],
    )
    .unwrap();
    let r = db.start_reply(&c.id, &q.id, None).unwrap();
    db.finish_reply(&r.id, "Marmalade.", None).unwrap();

    let threads = export::threads(&db, None).unwrap();
    let json = export::to_json(&threads, 0).unwrap();
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sent = &value["conversations"][0]["messages"][0]["attachments"];
    assert_eq!(
        sent,
        &serde_json::json!([
            {"name": "notes.md", "kind": "text", "sizeBytes": 1000 + notes.len(), "note": null, "text": notes},
            {"name": "report.pdf", "kind": "pdf", "sizeBytes": 1000 + "Quarterly \u{FFFD} figures".len(),
             "note": "1 byte was not UTF-8", "text": "Quarterly \u{FFFD} figures"},
        ])
    );
    assert!(value["conversations"][0]["messages"][1]
        .get("attachments")
        .is_none());

    let md = export::to_markdown(&threads, 0);
    let expected = format!(
        "**Attached file: notes.md**\n\n````\n{}\n````\n",
        notes.trim_end()
    );
    assert!(md.contains(&expected), "{md}");
    assert!(md.contains("**Attached file: report.pdf** (1 byte was not UTF-8)\n\n```\nQuarterly"));
    assert!(md.find("What is in them?").unwrap() < md.find("notes.md").unwrap());
    assert!(md.find("notes.md").unwrap() < md.find("Marmalade.").unwrap());

    let other = Db::open(&dir.path().join("other.db")).unwrap();
    let imported = export::import(&other, json.as_bytes()).unwrap();
    let copy = other.attachments(&imported[0].id).unwrap();
    let first = &other.messages(&imported[0].id).unwrap()[0];
    let got: Vec<_> = copy
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.kind,
                a.size_bytes,
                a.note.as_deref(),
                a.text.as_str(),
            )
        })
        .collect();
    let want: Vec<_> = db
        .attachments(&c.id)
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.kind, a.size_bytes, a.note, a.text))
        .collect();
    let want: Vec<_> = want
        .iter()
        .map(|(n, k, s, note, t)| (n.as_str(), *k, *s, note.as_deref(), t.as_str()))
        .collect();
    assert_eq!(got, want);
    assert!(copy
        .iter()
        .all(|a| a.message_id.as_deref() == Some(first.id.as_str())));
    assert!(copy.iter().all(|a| a.id != "a1" && a.id != "a2"), "new ids");

    // Refused, nothing imported: files on a reply, a name with a directory, too much text.
    let on_reply = {
        let mut v = value.clone();
        let files = v["conversations"][0]["messages"][0]["attachments"].take();
        v["conversations"][0]["messages"][0]["attachments"] = serde_json::json!([]);
        v["conversations"][0]["messages"][1]["attachments"] = files;
        v.to_string()
    };
    let with_path = json.replacen("\"notes.md\"", "\"../etc/notes.md\"", 1);
    let huge = {
        let mut v = value.clone();
        v["conversations"][0]["messages"][0]["attachments"][0]["text"] =
            serde_json::Value::String("x".repeat((1 << 20) + 1));
        v.to_string()
    };
    let before = other.list_conversations().unwrap().len();
    for (what, bytes, says) in [
        ("files on a reply", on_reply, "only a user's message"),
        ("a path", with_path, "invalid name"),
        ("too much text", huge, "more than 1 MiB"),
    ] {
        let e = export::import(&other, bytes.as_bytes()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidArgument, "{what}: {}", e.message);
        assert!(e.message.contains(says), "{what}: {}", e.message);
        assert_eq!(other.list_conversations().unwrap().len(), before, "{what}");
    }
}
