//! A panic inside the engine during a turn, through the app's real commands on the mock
//! runtime: the turn ends with an error event and a rejected command, the user's message
//! is kept, and the next turn in the same app (same engine) works.

mod support;

use serde_json::json;
use support::{greedy, kinds, token_text, Harness};

#[test]
fn a_panic_in_the_engine_ends_the_turn_and_the_app_keeps_working() {
    const MARKER: &str = "INJECTAPPPANIC";
    std::env::set_var("WOOLLY_FAULT_PANIC", MARKER);
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let c = h
        .invoke("create_conversation", json!({"title": null}))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy(&h, &id, 8);

    let (ch_id, ch) = h.channel();
    let err = h
        .invoke(
            "send_message",
            json!({"conversationId": id, "content": format!("Hello {MARKER}"), "onEvent": ch}),
        )
        .unwrap_err();
    assert_eq!(err["code"], "generation_failed", "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("injected fault"),
        "{err}"
    );
    let events = h.events(ch_id);
    assert_eq!(
        kinds(&events).last().map(String::as_str),
        Some("error"),
        "{events:?}"
    );

    // The user's message was saved (the failed reply was not).
    let messages = h
        .invoke("get_messages", json!({"conversationId": id}))
        .unwrap();
    let roles: Vec<_> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].clone())
        .collect();
    assert_eq!(roles, vec![json!("user")], "{messages}");

    // The app still answers: a turn in another conversation (this one's history holds the
    // marker) streams and is saved.
    let c = h
        .invoke("create_conversation", json!({"title": null}))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy(&h, &id, 8);
    let (ch_id, ch) = h.channel();
    let ok = h
        .invoke(
            "send_message",
            json!({"conversationId": id, "content": "What is the capital of France?", "onEvent": ch}),
        )
        .expect("the next turn works");
    let streamed = token_text(&h.events(ch_id));
    assert!(!streamed.is_empty());
    assert_eq!(ok["assistantMessage"]["content"], streamed.as_str());
    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "loaded", "{info}");
}
