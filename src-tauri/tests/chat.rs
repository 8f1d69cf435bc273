//! Chat turns with the real test model (models/SmolLM2-135M-Instruct.Q4_1.gguf) through
//! the IPC and a Channel: streaming, stop, regenerate and edit (new versions in the message
//! tree), switching versions, persistence, crash safety.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{greedy, kinds, start_long_turn, token_count, token_text, Harness};
use woolly_desktop::db::Db;

fn new_chat(h: &Harness, max_tokens: u32) -> String {
    let c = h
        .invoke("create_conversation", json!({ "title": null }))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy(h, &id, max_tokens);
    id
}

#[test]
fn send_message_streams_the_reply_and_saves_it() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = new_chat(&h, 24);
    let (ch_id, ch) = h.channel();
    let result = h
        .invoke("send_message", json!({ "conversationId": id, "content": "What is the capital of France?", "onEvent": ch }))
        .expect("send_message");
    let events = h.events(ch_id);
    let k = kinds(&events);
    // [model_loading…] started token* finished
    let started = k.iter().position(|e| e == "started").expect("started");
    assert!(k[..started].iter().all(|e| e == "model_loading"), "{k:?}");
    assert!(started > 0, "the first turn loads the model lazily: {k:?}");
    assert_eq!(k.last().unwrap(), "finished", "{k:?}");
    assert!(
        k[started + 1..k.len() - 1].iter().all(|e| e == "token"),
        "{k:?}"
    );
    assert!(k.iter().filter(|e| *e == "token").count() >= 2, "{k:?}");

    let streamed = token_text(&events);
    let reply = &result["assistantMessage"];
    assert_eq!(reply["content"], streamed.as_str());
    assert!(!streamed.trim().is_empty());
    assert!(streamed.contains("Paris"), "greedy reply: {streamed:?}");
    assert_eq!(events[started]["data"]["messageId"], reply["id"]);
    assert_eq!(
        events[started]["data"]["userMessageId"],
        result["userMessage"]["id"]
    );
    let prompt_tokens = events[started]["data"]["promptTokens"].as_u64().unwrap();
    assert!(prompt_tokens > 10);

    let stats = &events.last().unwrap()["data"]["stats"];
    assert_eq!(reply["stats"], *stats);
    assert_eq!(stats["promptTokens"].as_u64().unwrap(), prompt_tokens);
    assert!(stats["generatedTokens"].as_u64().unwrap() <= 24);
    assert!(
        ["eos", "max_tokens"].contains(&stats["stopReason"].as_str().unwrap()),
        "{stats}"
    );
    assert!(stats["tokensPerSecond"].as_f64().unwrap() > 0.0);
    assert_eq!(stats["contextLength"], 2048);
    assert_eq!(reply["modelId"], "SmolLM2-135M-Instruct.Q4_1.gguf");

    let messages = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    let messages = messages.as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(
        (messages[0]["role"].as_str(), messages[1]["role"].as_str()),
        (Some("user"), Some("assistant"))
    );
    assert_eq!(messages[0]["content"], "What is the capital of France?");
    assert_eq!(messages[1], *reply);
    let list = h.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list[0]["title"], "What is the capital of France?");
    assert_eq!(list[0]["messageCount"], 2);
    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "loaded");
    assert_eq!(info["model"]["id"], "SmolLM2-135M-Instruct.Q4_1.gguf");

    // A second turn reuses the loaded engine (no loading events) and sees the history.
    let (ch2_id, ch2) = h.channel();
    h.invoke(
        "send_message",
        json!({ "conversationId": id, "content": "And of Germany?", "onEvent": ch2 }),
    )
    .unwrap();
    let k2 = kinds(&h.events(ch2_id));
    assert_eq!(k2[0], "started", "{k2:?}");
    let p2 = h.events(ch2_id)[0]["data"]["promptTokens"]
        .as_u64()
        .unwrap();
    assert!(
        p2 > prompt_tokens + 10,
        "history is in the prompt: {p2} vs {prompt_tokens}"
    );

    // Regenerate adds a new version of the last reply (the old one stays, 1/2); greedy
    // decoding gives the same text again.
    let last_reply = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap()[3]
        .clone();
    let (ch3_id, ch3) = h.channel();
    let again = h
        .invoke(
            "regenerate",
            json!({ "conversationId": id, "onEvent": ch3 }),
        )
        .unwrap();
    assert_eq!(again["userMessage"], json!(null));
    assert_ne!(again["assistantMessage"]["id"], last_reply["id"]);
    assert_eq!(again["assistantMessage"]["content"], last_reply["content"]);
    assert_eq!(
        again["assistantMessage"]["parentId"],
        last_reply["parentId"]
    );
    assert_eq!(
        (
            &again["assistantMessage"]["version"],
            &again["assistantMessage"]["versions"]
        ),
        (&json!(2), &json!(2))
    );
    assert_eq!(h.events(ch3_id)[0]["data"]["userMessageId"], json!(null));
    assert_eq!(
        h.events(ch3_id)[0]["data"]["promptTokens"],
        json!(p2),
        "the same path is sent again, not the earlier reply"
    );
    let shown = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(shown.as_array().unwrap().len(), 4);
    assert_eq!(shown[3]["id"], again["assistantMessage"]["id"]);

    // Edit: a new version of the first message and a reply to it; the prompt is only that
    // message (the same token count as a new chat that asks it), the old thread stays.
    let first_user = messages[0]["id"].as_str().unwrap();
    let (ch4_id, ch4) = h.channel();
    let edited = h
        .invoke(
            "edit_and_resend",
            json!({ "conversationId": id, "messageId": first_user, "content": "What is the capital of Italy?", "onEvent": ch4 }),
        )
        .unwrap();
    assert_ne!(edited["userMessage"]["id"], first_user);
    assert_eq!(edited["userMessage"]["parentId"], json!(null));
    assert_eq!(
        edited["userMessage"]["content"],
        "What is the capital of Italy?"
    );
    let edit_prompt = h.events(ch4_id)[0]["data"]["promptTokens"].clone();
    let fresh = new_chat(&h, 24);
    let (ch6_id, ch6) = h.channel();
    let fresh_reply = h
        .invoke("send_message", json!({ "conversationId": fresh, "content": "What is the capital of Italy?", "onEvent": ch6 }))
        .unwrap();
    assert_eq!(h.events(ch6_id)[0]["data"]["promptTokens"], edit_prompt);
    assert_eq!(
        fresh_reply["assistantMessage"]["content"],
        edited["assistantMessage"]["content"]
    );
    let after = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(after[1]["id"], edited["assistantMessage"]["id"]);
    assert_eq!(
        (&after[0]["version"], &after[0]["versions"]),
        (&json!(2), &json!(2))
    );

    // ‹ 1/2 ›: back to the first version, down to its newest reply.
    let back = h
        .invoke(
            "switch_branch",
            json!({ "conversationId": id, "messageId": after[0]["id"], "version": 1 }),
        )
        .unwrap();
    assert_eq!(back.as_array().unwrap().len(), 4);
    assert_eq!(back[0]["content"], "What is the capital of France?");
    assert_eq!(back[3]["id"], again["assistantMessage"]["id"]);
    assert_eq!(
        h.invoke("get_messages", json!({ "conversationId": id }))
            .unwrap(),
        back
    );
    let (_, ch5) = h.channel();
    let err = h
        .invoke("edit_and_resend", json!({ "conversationId": id, "messageId": after[1]["id"], "content": "x", "onEvent": ch5 }))
        .unwrap_err();
    assert_eq!(
        err["code"], "invalid_argument",
        "assistant messages cannot be edited"
    );
}

/// Stop mid-stream: the turn ends with `finished`/cancelled within a token, the partial
/// reply is saved, and the conversation is busy only while the turn runs.
#[test]
fn stop_mid_stream_saves_the_partial_reply() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let id = new_chat(&h, 600);
    let (ch_id, turn) = start_long_turn(&h, &id);

    // While it runs: the same conversation is busy, others answer.
    let (_, other) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({ "conversationId": id, "content": "again", "onEvent": other }),
        )
        .unwrap_err();
    assert_eq!(err["code"], "busy");
    assert!(h.invoke("list_conversations", json!({})).is_ok());

    // The growing reply is already in the database (flushed while streaming).
    assert!(
        h.wait_for(ch_id, Duration::from_secs(60), |e| token_count(e) >= 40),
        "slow stream"
    );
    let db = Db::open(&dir.path().join("data/woolly.db")).unwrap();
    let partial = db.messages(&id).unwrap();
    assert_eq!(partial.len(), 2);
    assert!(
        !partial[1].content.is_empty(),
        "streamed text is saved before the turn ends"
    );

    let before_stop = token_count(&h.events(ch_id));
    assert_eq!(
        h.invoke("stop_generation", json!({ "conversationId": id }))
            .unwrap(),
        json!(true)
    );
    let result = turn.join().unwrap().expect("a stopped turn still resolves");
    let events = h.events(ch_id);
    assert!(
        token_count(&events) <= before_stop + 2,
        "stopped within a token: {} after {before_stop}",
        token_count(&events)
    );
    let last = events.last().unwrap();
    assert_eq!(last["event"], "finished");
    let stats = &last["data"]["stats"];
    assert_eq!(stats["stopReason"], "cancelled");
    let generated = stats["generatedTokens"].as_u64().unwrap();
    assert!((8..600).contains(&generated), "{generated}");

    let saved = &result["assistantMessage"];
    assert_eq!(saved["content"], token_text(&events).as_str());
    assert_eq!(saved["stats"]["stopReason"], "cancelled");
    let messages = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(messages[1]["content"], saved["content"]);
    assert_eq!(
        h.invoke("stop_generation", json!({ "conversationId": id }))
            .unwrap(),
        json!(false)
    );

    // No longer busy: the next turn runs.
    let (_, ch2) = h.channel();
    greedy(&h, &id, 4);
    h.invoke(
        "send_message",
        json!({ "conversationId": id, "content": "Thanks!", "onEvent": ch2 }),
    )
    .unwrap();
}

#[test]
fn conversations_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let (id, reply) = {
        let h = Harness::open(dir.path());
        let id = new_chat(&h, 12);
        let (_, ch) = h.channel();
        let r = h.invoke("send_message", json!({ "conversationId": id, "content": "Name three colors of the rainbow.", "onEvent": ch })).unwrap();
        (id, r["assistantMessage"].clone())
    };
    let h = Harness::open(dir.path());
    assert_eq!(h.state().db.schema_version().unwrap(), 4);
    let list = h.invoke("list_conversations", json!({})).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["title"], "Name three colors of the rainbow.");
    let messages = h
        .invoke("get_messages", json!({ "conversationId": id }))
        .unwrap();
    assert_eq!(messages[1], reply);
    let hits = h
        .invoke("search_conversations", json!({ "query": "rainbow" }))
        .unwrap();
    assert_eq!(hits[0]["conversation"]["id"], id.as_str());
}
