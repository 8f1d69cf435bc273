//! Nothing is truncated silently: a conversation that outgrows the context window fails
//! with `context_full` and the numbers, and leaves out exactly the fewest oldest messages
//! only when the turn says `allowDropOldest`. Token counts are worked out here, with the
//! real test model's tokenizer and template over chats built by hand.

mod support;

use serde_json::{json, Value};
use support::{greedy_with, test_model, Harness};
use woolly_core::chat::ChatMessage;
use woolly_core::engine::{Engine, EngineConfig, Prompt};
use woolly_desktop::prompt::build_prompt;
use woolly_desktop::types::{Message, Role};
use woolly_desktop::ErrorCode;

const SYSTEM: &str = "You are a helpful assistant.";

fn text(i: usize) -> String {
    format!(
        "Message number {i}: the quick brown fox jumps over the lazy dog, {} times over.",
        i * 7
    )
}

fn history(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message {
            id: format!("m{i}"),
            conversation_id: "c".into(),
            role: if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content: text(i),
            created_at: i as i64,
            stats: None,
            model_id: None,
            parent_id: None,
            version: 1,
            versions: 1,
        })
        .collect()
}

/// Tokens of the system prompt and messages `start..n` of [`history`], built by hand.
fn tokens_from(engine: &Engine, start: usize, n: usize) -> u32 {
    let mut chat = vec![ChatMessage::system(SYSTEM)];
    for i in start..n {
        chat.push(if i % 2 == 0 {
            ChatMessage::user(text(i))
        } else {
            ChatMessage::assistant(text(i))
        });
    }
    engine.prompt_tokens(&Prompt::Chat(chat)).unwrap().len() as u32
}

#[test]
fn build_prompt_refuses_then_drops_exactly_the_oldest_needed() {
    let engine = Engine::load(
        test_model(),
        EngineConfig::builder()
            .context_length(512)
            .threads(2)
            .build(),
    )
    .unwrap();
    let n = 13; // 6 questions with answers, then a question
    let h = history(n);
    let max_tokens = 16;
    let full = tokens_from(&engine, 0, n);
    // Room for everything from the third question (message 4) on, not from the second.
    let from4 = tokens_from(&engine, 4, n);
    let from2 = tokens_from(&engine, 2, n);
    assert!(from2 > from4 && full > from2);
    let ctx = from4 + max_tokens;
    assert!(ctx / 4 >= max_tokens && from2 + max_tokens > ctx);

    let e = build_prompt(&engine, SYSTEM, &h, ctx, max_tokens, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextFull, "{}", e.message);
    let o = e.context.clone().expect("the numbers");
    assert_eq!(o.prompt_tokens, full);
    assert_eq!(o.reply_reserve, max_tokens);
    assert_eq!(o.tokens_needed, full + max_tokens);
    assert_eq!(o.context_length, ctx);
    assert_eq!(o.drop_messages, Some(4));
    assert!(e.message.contains("4 oldest messages"), "{}", e.message);

    let p = build_prompt(&engine, SYSTEM, &h, ctx, max_tokens, true).unwrap();
    assert_eq!(p.dropped, 4);
    assert_eq!(p.prompt_tokens, from4);
    assert_eq!(p.messages.len(), 1 + n - 4);
    assert_eq!(p.messages[0].content, SYSTEM);
    assert_eq!(p.messages[1].content, text(4));
    assert_eq!(p.messages.last().unwrap().content, text(n - 1));

    // One token less: the next question and answer go too.
    let p = build_prompt(&engine, SYSTEM, &h, ctx - 1, max_tokens, true).unwrap();
    assert_eq!(
        (p.dropped, p.prompt_tokens),
        (6, tokens_from(&engine, 6, n))
    );

    // Everything fits: nothing is dropped, with or without the flag.
    for allow in [false, true] {
        let p = build_prompt(&engine, SYSTEM, &h, full + max_tokens, max_tokens, allow).unwrap();
        assert_eq!((p.dropped, p.prompt_tokens), (0, full));
    }

    // Not even the last question fits: no drop helps.
    let last = tokens_from(&engine, n - 1, n);
    let e = build_prompt(&engine, SYSTEM, &h, last + 2, max_tokens, true).unwrap_err();
    assert_eq!(e.code, ErrorCode::ContextFull);
    assert_eq!(e.context.unwrap().drop_messages, None);
}

/// A conversation with `n` saved messages, a small window and short greedy replies.
fn long_chat(h: &Harness, n: usize, context_length: u32) -> String {
    let c = h
        .invoke("create_conversation", json!({ "title": "long" }))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy_with(h, &id, 8, context_length, SYSTEM);
    let db = &h.state().db;
    for i in 0..n {
        if i % 2 == 0 {
            db.add_user_message(&id, &text(i)).unwrap();
        } else {
            let parent = db.current_leaf(&id).unwrap().unwrap();
            let r = db.start_reply(&id, &parent, None).unwrap();
            db.finish_reply(&r.id, &text(i), None).unwrap();
        }
    }
    id
}

fn messages(h: &Harness, id: &str) -> Vec<Value> {
    h.invoke("get_messages", json!({ "conversationId": id }))
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_turn_that_does_not_fit_asks_first_and_drops_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = long_chat(&h, 12, 256);
    let before = messages(&h, &id);

    // Send without the flag: the turn fails with the code and the numbers; the user's
    // message is kept, nothing else changes and no reply row is left.
    let (ch_id, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": text(12), "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "context_full", "{err}");
    let o = err["context"].clone();
    let drop = o["dropMessages"].as_u64().expect("a drop that fits") as usize;
    assert!(drop >= 2 && drop.is_multiple_of(2), "{o}");
    assert_eq!(o["contextLength"], 256);
    assert_eq!(o["replyReserve"], 8);
    assert_eq!(
        o["tokensNeeded"].as_u64().unwrap(),
        o["promptTokens"].as_u64().unwrap() + 8
    );
    assert!(o["tokensNeeded"].as_u64().unwrap() > 256);
    let events = h.events(ch_id);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error");
    assert_eq!(last["data"]["code"], "context_full");
    assert_eq!(last["data"]["context"], o);
    let after = messages(&h, &id);
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..]);
    assert_eq!(after.last().unwrap()["content"], text(12));

    // The context meter counts the same conversation with the now loaded model.
    let usage = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": "" }),
        )
        .unwrap();
    assert_eq!(usage["promptTokens"], o["promptTokens"]);
    assert_eq!(usage["contextLength"], 256);
    let with_draft = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": "And one more thing." }),
        )
        .unwrap();
    assert!(with_draft["promptTokens"].as_u64() > usage["promptTokens"].as_u64());

    // Regenerate without the flag: refused the same way, still nothing dropped.
    let (_, ch) = h.channel();
    let err = h
        .invoke(
            "regenerate",
            json!({ "conversationId": id, "allowDropOldest": false, "onEvent": ch }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "context_full");
    assert_eq!(messages(&h, &id), after);

    // The user chose to drop: the reply comes, and says how many messages were left out.
    let (_, ch) = h.channel();
    let result = h
        .invoke(
            "regenerate",
            json!({ "conversationId": id, "allowDropOldest": true, "onEvent": ch }),
        )
        .expect("regenerate with allowDropOldest");
    let stats = &result["assistantMessage"]["stats"];
    assert_eq!(
        stats["droppedMessages"].as_u64(),
        Some(drop as u64),
        "{stats}"
    );
    assert!(stats["promptTokens"].as_u64().unwrap() + 8 <= 256);
    // The history itself is untouched: dropping is about the prompt only.
    let saved = messages(&h, &id);
    assert_eq!(saved.len(), after.len() + 1);
    assert_eq!(saved[..after.len()], after[..]);
    assert_eq!(saved.last().unwrap()["stats"]["droppedMessages"], drop);
}

#[test]
fn context_usage_never_loads_a_model() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = long_chat(&h, 2, 2048);
    let usage = h
        .invoke(
            "context_usage",
            json!({ "conversationId": id, "draft": "hi" }),
        )
        .unwrap();
    assert_eq!(usage, Value::Null);
    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "unloaded");
    let missing = h
        .invoke(
            "context_usage",
            json!({ "conversationId": "nope", "draft": "" }),
        )
        .unwrap_err();
    assert_eq!(missing["code"], "not_found");
}
