//! Edit and branch on real SQLite files: messages form a tree, edits and regenerated
//! replies are new versions (siblings), the shown thread is the path to the current leaf,
//! a reply is sent exactly the path to what it answers, switching versions picks the
//! newest leaf under the chosen one, search finds every branch, a history written by the
//! old linear schema migrates without loss, and export/import keep the tree (bad trees are
//! refused and change nothing). Each assertion compares against hand-listed messages.

use woolly_desktop::db::Db;
use woolly_desktop::export::{self, ExportFormat};
use woolly_desktop::types::{Message, SamplingParams};
use woolly_desktop::ErrorCode;

fn contents(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.content.as_str()).collect()
}

fn versions(messages: &[Message]) -> Vec<(u32, u32)> {
    messages.iter().map(|m| (m.version, m.versions)).collect()
}

/// A finished reply to `parent` (what a turn does around the engine).
fn reply(db: &Db, conversation: &str, parent: &str, text: &str) -> Message {
    let r = db
        .start_reply(conversation, parent, Some("tiny.gguf"))
        .unwrap();
    db.finish_reply(&r.id, text, None).unwrap().unwrap()
}

struct Trip {
    db: Db,
    id: String,
    u1: Message,
    a1: Message,
    u2: Message,
    a2: Message,
    u2b: Message,
    a2b: Message,
    a2c: Message,
}

/// u1 → a1 → u2 "Rome" → a2; edit u2 → u2b "Paris" → a2b; regenerate → a2c.
fn trip(dir: &std::path::Path) -> Trip {
    let db = Db::open(&dir.join("history.db")).unwrap();
    let c = db
        .create_conversation(None, "Be brief.", &SamplingParams::default(), None)
        .unwrap();
    let id = c.id;
    let u1 = db.add_user_message(&id, "Plan a trip").unwrap();
    let a1 = reply(&db, &id, &u1.id, "Where to?");
    let u2 = db.add_user_message(&id, "To Rome").unwrap();
    let a2 = reply(&db, &id, &u2.id, "Rome: the Colosseum.");
    assert_eq!(u2.parent_id.as_deref(), Some(a1.id.as_str()));

    let u2b = db.edit_user_message(&id, &u2.id, "To Paris").unwrap();
    assert_eq!(u2b.parent_id, u2.parent_id, "an edit is a sibling");
    assert_eq!((u2b.version, u2b.versions), (2, 2));
    assert_eq!(
        contents(&db.messages(&id).unwrap()),
        ["Plan a trip", "Where to?", "To Paris"]
    );
    let a2b = reply(&db, &id, &u2b.id, "Paris: the Louvre.");

    // Regenerate the shown reply: it answers u2b again, as a sibling of a2b.
    let target = db.regenerate_target(&id, None).unwrap();
    assert_eq!(target, u2b.id);
    assert_eq!(db.regenerate_target(&id, Some(&a2b.id)).unwrap(), u2b.id);
    assert_eq!(db.regenerate_target(&id, Some(&u2b.id)).unwrap(), u2b.id);
    let a2c = reply(&db, &id, &target, "Paris: the Eiffel Tower.");
    Trip {
        db,
        id,
        u1,
        a1,
        u2,
        a2,
        u2b,
        a2b,
        a2c,
    }
}

#[test]
fn edits_and_regenerations_are_versions_and_the_prompt_is_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let t = trip(dir.path());
    let db = &t.db;
    let shown = db.messages(&t.id).unwrap();
    assert_eq!(
        contents(&shown),
        [
            "Plan a trip",
            "Where to?",
            "To Paris",
            "Paris: the Eiffel Tower."
        ]
    );
    assert_eq!(versions(&shown), [(1, 1), (1, 1), (2, 2), (2, 2)]);
    // Nothing was deleted: every version is stored.
    assert_eq!(db.all_messages(&t.id).unwrap().len(), 7);
    assert_eq!(db.get_conversation(&t.id).unwrap().message_count, 7);

    // What a reply is sent: the path to the message it answers, never another branch.
    let ids = |ms: &[Message]| ms.iter().map(|m| m.id.clone()).collect::<Vec<String>>();
    assert_eq!(
        ids(&db.thread_to(&t.u2b.id).unwrap()),
        vec![t.u1.id.clone(), t.a1.id.clone(), t.u2b.id.clone()]
    );
    assert_eq!(
        ids(&db.thread_to(&t.u2.id).unwrap()),
        vec![t.u1.id.clone(), t.a1.id.clone(), t.u2.id.clone()]
    );
    // A new message continues the shown thread.
    let u3 = db.add_user_message(&t.id, "For how long?").unwrap();
    assert_eq!(u3.parent_id.as_deref(), Some(t.a2c.id.as_str()));
    assert_eq!(
        ids(&db.thread_to(&u3.id).unwrap()),
        vec![
            t.u1.id.clone(),
            t.a1.id.clone(),
            t.u2b.id.clone(),
            t.a2c.id.clone(),
            u3.id.clone()
        ]
    );

    // Regenerating an older reply (any reply, not only the last) answers its user message.
    assert_eq!(
        db.regenerate_target(&t.id, Some(&t.a1.id)).unwrap(),
        t.u1.id
    );
    let a1b = reply(db, &t.id, &t.u1.id, "Where would you like to go?");
    let shown = db.messages(&t.id).unwrap();
    assert_eq!(
        contents(&shown),
        ["Plan a trip", "Where would you like to go?"]
    );
    assert_eq!(versions(&shown), [(1, 1), (2, 2)]);

    // Only user messages can be edited; unknown messages are not found.
    let e = db.edit_user_message(&t.id, &t.a1.id, "x").unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    let e = db.edit_user_message(&t.id, "nope", "x").unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let _ = a1b;
}

#[test]
fn switching_versions_shows_the_newest_leaf_under_the_chosen_one() {
    let dir = tempfile::tempdir().unwrap();
    let t = trip(dir.path());
    let db = &t.db;
    // ‹ 1/2 › on "To Paris": the Rome branch, down to its reply.
    let shown = db.switch_branch(&t.id, &t.u2b.id, Some(1)).unwrap();
    assert_eq!(
        contents(&shown),
        [
            "Plan a trip",
            "Where to?",
            "To Rome",
            "Rome: the Colosseum."
        ]
    );
    assert_eq!(versions(&shown), [(1, 1), (1, 1), (1, 2), (1, 1)]);
    assert_eq!(db.messages(&t.id).unwrap(), shown, "the choice is saved");
    // Back to 2/2: the newest leaf under "To Paris" is the regenerated reply.
    let shown = db.switch_branch(&t.id, &t.u2.id, Some(2)).unwrap();
    assert_eq!(shown.last().unwrap().id, t.a2c.id);
    // ‹ 1/2 › on that reply: the first Paris reply.
    let shown = db.switch_branch(&t.id, &t.a2c.id, Some(1)).unwrap();
    assert_eq!(shown.last().unwrap().id, t.a2b.id);
    assert_eq!(versions(&shown)[3], (1, 2));
    // The shown branch survives reopening the database.
    drop(t.db);
    let db = Db::open(&dir.path().join("history.db")).unwrap();
    assert_eq!(db.messages(&t.id).unwrap().last().unwrap().id, t.a2b.id);
    // A version that does not exist, a message of another conversation.
    let e = db.switch_branch(&t.id, &t.u2.id, Some(3)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
    assert!(e.message.contains("version 3"), "{}", e.message);
    let other = db
        .create_conversation(None, "", &SamplingParams::default(), None)
        .unwrap();
    let e = db.switch_branch(&other.id, &t.u2.id, None).unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(db.messages(&t.id).unwrap().last().unwrap().id, t.a2b.id);
}

#[test]
fn search_finds_every_branch_and_opens_the_one_holding_the_hit() {
    let dir = tempfile::tempdir().unwrap();
    let t = trip(dir.path());
    let db = &t.db;
    // The Rome branch is not shown, yet found.
    let hits = db.search("Colosseum").unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].conversation.id, t.id);
    assert_eq!(hits[0].message_id.as_deref(), Some(t.a2.id.as_str()));
    let shown = db.switch_branch(&t.id, &t.a2.id, None).unwrap();
    assert_eq!(
        contents(&shown),
        [
            "Plan a trip",
            "Where to?",
            "To Rome",
            "Rome: the Colosseum."
        ]
    );
    // The title matches too; the hit still names the message.
    let hits = db.search("trip").unwrap();
    assert_eq!(hits[0].message_id.as_deref(), Some(t.u1.id.as_str()));
}

#[test]
fn a_failed_regenerate_shows_the_earlier_reply_again() {
    let dir = tempfile::tempdir().unwrap();
    let t = trip(dir.path());
    let db = &t.db;
    // A turn that failed before its first token deletes its empty reply.
    let r = db.start_reply(&t.id, &t.u2b.id, None).unwrap();
    assert_eq!(db.messages(&t.id).unwrap().last().unwrap().id, r.id);
    db.delete_message(&r.id).unwrap();
    assert_eq!(db.messages(&t.id).unwrap().last().unwrap().id, t.a2c.id);
    assert_eq!(db.all_messages(&t.id).unwrap().len(), 7);
}

/// The schema the app shipped before the tree (migrations 1 and 2, verbatim).
const OLD_SCHEMA: &str = r#"
    CREATE TABLE conversations (
        seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, title TEXT NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        system_prompt TEXT NOT NULL DEFAULT '', params TEXT NOT NULL, model_id TEXT
    );
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')), content TEXT NOT NULL,
        created_at INTEGER NOT NULL, stats TEXT, model_id TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, seq);
    CREATE VIRTUAL TABLE messages_fts USING fts5(
        content, content='messages', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER messages_ai AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END;
    CREATE TRIGGER messages_ad AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    END;
    CREATE TRIGGER messages_au AFTER UPDATE OF content ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
        INSERT INTO messages_fts(rowid, content) VALUES (new.seq, new.content);
    END;
    CREATE VIRTUAL TABLE conversations_fts USING fts5(
        title, content='conversations', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER conversations_ai AFTER INSERT ON conversations BEGIN
        INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
    END;
    CREATE TRIGGER conversations_ad AFTER DELETE ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.seq, old.title);
    END;
    CREATE TRIGGER conversations_au AFTER UPDATE OF title ON conversations BEGIN
        INSERT INTO conversations_fts(conversations_fts, rowid, title) VALUES ('delete', old.seq, old.title);
        INSERT INTO conversations_fts(rowid, title) VALUES (new.seq, new.title);
    END;
    CREATE TABLE downloads (
        id TEXT PRIMARY KEY, catalog_id TEXT, name TEXT NOT NULL, file_name TEXT NOT NULL,
        url TEXT NOT NULL, sha256 TEXT NOT NULL, status TEXT NOT NULL,
        downloaded_bytes INTEGER NOT NULL DEFAULT 0, total_bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT, created_at INTEGER NOT NULL
    );
    PRAGMA user_version = 2;
"#;

#[test]
fn a_linear_history_from_the_old_schema_becomes_one_branch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("woolly.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(OLD_SCHEMA).unwrap();
        let params = serde_json::to_string(&SamplingParams::default()).unwrap();
        for (c, title) in [("c1", "Soup"), ("c2", "Empty"), ("c3", "Other")] {
            conn.execute(
                "INSERT INTO conversations (id, title, created_at, updated_at, params) VALUES (?1, ?2, 1, 2, ?3)",
                rusqlite::params![c, title, params],
            )
            .unwrap();
        }
        // Interleaved conversations: each message's parent is the previous one of its own.
        let rows = [
            ("m1", "c1", "user", "How do I make leek soup?"),
            ("o1", "c3", "user", "hi"),
            ("m2", "c1", "assistant", "Leeks, potatoes, stock."),
            ("o2", "c3", "assistant", "hello"),
            ("m3", "c1", "user", "And without potatoes?"),
            ("m4", "c1", "assistant", "Use celeriac."),
        ];
        for (i, (id, c, role, content)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO messages (id, conversation_id, role, content, created_at, stats, model_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, NULL)",
                rusqlite::params![id, c, role, content, i as i64],
            )
            .unwrap();
        }
    }
    let db = Db::open(&path).unwrap();
    assert_eq!(db.schema_version().unwrap(), 4);
    let soup = db.messages("c1").unwrap();
    let ids: Vec<_> = soup.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
    let parents: Vec<_> = soup.iter().map(|m| m.parent_id.as_deref()).collect();
    assert_eq!(parents, [None, Some("m1"), Some("m2"), Some("m3")]);
    assert_eq!(versions(&soup), [(1, 1); 4]);
    assert_eq!(
        contents(&soup),
        [
            "How do I make leek soup?",
            "Leeks, potatoes, stock.",
            "And without potatoes?",
            "Use celeriac."
        ]
    );
    assert_eq!(db.current_leaf("c1").unwrap().as_deref(), Some("m4"));
    let other: Vec<_> = db
        .messages("c3")
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.parent_id))
        .collect();
    assert_eq!(
        other,
        [
            ("o1".to_string(), None),
            ("o2".to_string(), Some("o1".to_string()))
        ]
    );
    assert!(db.messages("c2").unwrap().is_empty());
    assert_eq!(db.current_leaf("c2").unwrap(), None);
    // Search still works, and the migrated history branches like a new one.
    assert_eq!(
        db.search("celeriac").unwrap()[0].message_id.as_deref(),
        Some("m4")
    );
    let edit = db.edit_user_message("c1", "m3", "And with rice?").unwrap();
    assert_eq!(edit.parent_id.as_deref(), Some("m2"));
    let shown = db.switch_branch("c1", &edit.id, Some(1)).unwrap();
    assert_eq!(shown.last().unwrap().id, "m4");
}

/// A message as (role, content, parent's content, version, versions).
type Node = (String, String, Option<String>, u32, u32);

/// Every message as a [`Node`], and the shown thread's texts: what a round trip must keep
/// (ids aside).
fn tree_essence(db: &Db, id: &str) -> (Vec<Node>, Vec<String>) {
    let all = db.all_messages(id).unwrap();
    let content_of = |pid: &Option<String>| {
        pid.as_ref()
            .map(|p| all.iter().find(|m| &m.id == p).unwrap().content.clone())
    };
    let tree = all
        .iter()
        .map(|m| {
            (
                m.role.as_str().to_string(),
                m.content.clone(),
                content_of(&m.parent_id),
                m.version,
                m.versions,
            )
        })
        .collect();
    let shown = db
        .messages(id)
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    (tree, shown)
}

#[test]
fn export_keeps_the_tree_and_import_restores_it() {
    let dir = tempfile::tempdir().unwrap();
    let t = trip(dir.path());
    // Show the Rome branch, so the export says which branch is current.
    t.db.switch_branch(&t.id, &t.u2b.id, Some(1)).unwrap();
    let threads = export::threads(&t.db, Some(std::slice::from_ref(&t.id))).unwrap();
    let json = export::render(&threads, ExportFormat::Json, 0).unwrap();
    let file: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(file["version"], 2);
    let c = &file["conversations"][0];
    assert_eq!(c["messages"].as_array().unwrap().len(), 7);
    assert_eq!(c["currentId"], t.a2.id.as_str());
    assert_eq!(c["messages"][0]["parentId"], serde_json::Value::Null);
    assert_eq!(c["messages"][1]["parentId"], t.u1.id.as_str());

    let md = export::render(&threads, ExportFormat::Markdown, 0).unwrap();
    assert!(
        md.contains("To Rome") && md.contains("Rome: the Colosseum."),
        "{md}"
    );
    assert!(!md.contains("Paris"), "only the shown thread: {md}");
    assert!(md.contains("## User · version 1 of 2"), "{md}");
    assert!(
        md.contains("- Other versions: 3 more messages in other branches"),
        "{md}"
    );

    let other = tempfile::tempdir().unwrap();
    let target = Db::open(&other.path().join("history.db")).unwrap();
    let imported = export::import(&target, json.as_bytes()).unwrap();
    assert_eq!(imported.len(), 1);
    let new_id = &imported[0].id;
    assert_eq!(tree_essence(&target, new_id), tree_essence(&t.db, &t.id));
    assert_eq!(
        tree_essence(&target, new_id).1,
        [
            "Plan a trip",
            "Where to?",
            "To Rome",
            "Rome: the Colosseum."
        ]
    );
    // New ids, and the branches still switch.
    assert!(target
        .all_messages(new_id)
        .unwrap()
        .iter()
        .all(|m| m.id != t.u1.id));
    let u2 = &target.messages(new_id).unwrap()[2];
    let shown = target.switch_branch(new_id, &u2.id, Some(2)).unwrap();
    assert_eq!(shown.last().unwrap().content, "Paris: the Eiffel Tower.");
    // Settings too.
    assert_eq!(imported[0].system_prompt, "Be brief.");
}

#[test]
fn files_out_of_order_and_version_1_files_import() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("history.db")).unwrap();
    let msg = |id: &str, parent: Option<&str>, role: &str, content: &str| serde_json::json!({ "id": id, "parentId": parent, "role": role, "content": content, "createdAt": 0 });
    let conv = |messages: Vec<serde_json::Value>, current: Option<&str>| {
        serde_json::json!({ "title": "T", "createdAt": 0, "updatedAt": 0, "modelId": null,
            "systemPrompt": "", "params": SamplingParams::default(), "currentId": current,
            "messages": messages })
    };
    let file = |version: u32, conversations: Vec<serde_json::Value>| {
        serde_json::to_vec(&serde_json::json!({ "format": "woolly.conversations",
            "version": version, "exportedAt": 0, "conversations": conversations }))
        .unwrap()
    };
    // Children before parents in the file: still imported, siblings in file order.
    let shuffled = file(
        2,
        vec![conv(
            vec![
                msg("b", Some("q"), "assistant", "B"),
                msg("q", None, "user", "Q"),
                msg("c", Some("q"), "assistant", "C"),
            ],
            Some("b"),
        )],
    );
    let c = &export::import(&db, &shuffled).unwrap()[0];
    let shown = db.messages(&c.id).unwrap();
    assert_eq!(contents(&shown), ["Q", "B"]);
    assert_eq!(versions(&shown), [(1, 1), (1, 2)]);

    // Version 1: one linear thread, no ids.
    let v1 = serde_json::to_vec(&serde_json::json!({ "format": "woolly.conversations",
        "version": 1, "exportedAt": 0, "conversations": [{ "title": "Old", "createdAt": 0,
        "updatedAt": 0, "modelId": null, "systemPrompt": "", "params": SamplingParams::default(),
        "messages": [
            { "role": "user", "content": "one", "createdAt": 0 },
            { "role": "assistant", "content": "two", "createdAt": 1 },
            { "role": "user", "content": "three", "createdAt": 2 } ] }] }))
    .unwrap();
    let c = &export::import(&db, &v1).unwrap()[0];
    let shown = db.messages(&c.id).unwrap();
    assert_eq!(contents(&shown), ["one", "two", "three"]);
    assert_eq!(shown[2].parent_id.as_deref(), Some(shown[1].id.as_str()));

    // Bad trees: a clear error, nothing imported.
    let before = db.list_conversations().unwrap().len();
    let good = conv(vec![msg("q", None, "user", "Q")], None);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "cycle",
            file(
                2,
                vec![
                    good.clone(),
                    conv(
                        vec![
                            msg("a", Some("b"), "user", "A"),
                            msg("b", Some("a"), "assistant", "B"),
                        ],
                        None,
                    ),
                ],
            ),
            "cycle",
        ),
        (
            "own parent",
            file(2, vec![conv(vec![msg("a", Some("a"), "user", "A")], None)]),
            "cycle",
        ),
        (
            "dangling parent",
            file(
                2,
                vec![
                    good.clone(),
                    conv(vec![msg("a", Some("zz"), "user", "A")], None),
                ],
            ),
            "\"zz\", which is not in the file",
        ),
        (
            "duplicate id",
            file(
                2,
                vec![conv(
                    vec![msg("a", None, "user", "A"), msg("a", None, "user", "B")],
                    None,
                )],
            ),
            "two messages have the id \"a\"",
        ),
        (
            "no id",
            file(
                2,
                vec![conv(
                    vec![serde_json::json!({ "role": "user", "content": "A", "createdAt": 0 })],
                    None,
                )],
            ),
            "has no \"id\"",
        ),
        (
            "unknown current",
            file(2, vec![conv(vec![msg("a", None, "user", "A")], Some("x"))]),
            "\"currentId\"",
        ),
        (
            "newer version",
            file(3, vec![good.clone()]),
            "update Woolly",
        ),
        ("version 0", file(0, vec![good.clone()]), "\"version\""),
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
        assert_eq!(db.list_conversations().unwrap().len(), before, "{what}");
    }
}
