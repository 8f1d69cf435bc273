//! "Unload the model after N idle minutes": the setting round-trips and is validated, an
//! idle model is unloaded and its memory given back (the process's resident size drops by
//! most of the weights), a model in use by the local API server is not, and the next message
//! loads it again.

mod support;

use serde_json::json;
use std::time::Duration;
use support::{free_port, greedy, token_text, Harness};

fn turn(h: &Harness, id: &str) -> String {
    let (ch_id, ch) = h.channel();
    h.invoke(
        "send_message",
        json!({"conversationId": id, "content": "Hi", "onEvent": ch}),
    )
    .expect("send_message");
    token_text(&h.events(ch_id))
}

fn process_bytes(h: &Harness) -> u64 {
    h.invoke("system_info", json!({})).unwrap()["memory"]["processBytes"]
        .as_u64()
        .unwrap()
}

#[test]
fn an_idle_model_is_unloaded_and_its_memory_given_back() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::open(dir.path());
    let mut s = h.invoke("get_settings", json!({})).unwrap();
    assert_eq!(s["unloadAfterMinutes"], json!(null));
    s["unloadAfterMinutes"] = json!(0);
    let err = h
        .invoke("save_settings", json!({"settings": s}))
        .unwrap_err();
    assert_eq!(err["code"], "invalid_argument", "{err}");
    s["unloadAfterMinutes"] = json!(15);
    h.invoke("save_settings", json!({"settings": s})).unwrap();
    assert_eq!(
        h.invoke("get_settings", json!({})).unwrap()["unloadAfterMinutes"],
        15
    );

    let c = h
        .invoke("create_conversation", json!({"title": null}))
        .unwrap();
    let id = c["id"].as_str().unwrap().to_string();
    greedy(&h, &id, 4);
    let first = turn(&h, &id);
    let state = h.state();
    let engine = &state.engine;
    // Used just now: not idle for 15 minutes.
    assert!(!engine.unload_if_idle(Duration::from_secs(15 * 60)));
    // Idle time counts from the end of use, not from when a turn asked for the engine: held
    // (as a long reply holds it) past the idle time, it is kept, and kept again right after
    // it is let go; only a full idle time later does it go.
    let held = engine.current().expect("loaded");
    let idle = Duration::from_millis(300);
    std::thread::sleep(idle * 2);
    assert!(!engine.unload_if_idle(idle), "unloaded while in use");
    drop(held);
    assert!(
        !engine.unload_if_idle(idle),
        "unloaded as soon as a long use ended: the idle clock started at the use's start"
    );
    std::thread::sleep(idle * 2);
    assert!(engine.unload_if_idle(idle), "kept after a full idle time");
    // Shared with the running local API server (which loads it again): kept.
    let port = free_port();
    h.invoke("start_server", json!({"port": port})).unwrap();
    assert!(!engine.unload_if_idle(Duration::ZERO));
    h.invoke("stop_server", json!({})).unwrap();

    let loaded = process_bytes(&h);
    assert!(engine.unload_if_idle(Duration::ZERO));
    let info = h.invoke("system_info", json!({})).unwrap();
    assert_eq!(info["modelState"], "unloaded", "{info}");
    let unloaded = process_bytes(&h);
    // The test model's repacked weights are about 100 MB of the process.
    println!(
        "resident: {} MB loaded, {} MB unloaded",
        loaded >> 20,
        unloaded >> 20
    );
    assert!(
        unloaded + (50 << 20) < loaded,
        "{} MB loaded, {} MB after unloading",
        loaded >> 20,
        unloaded >> 20
    );
    // The next message loads it again, with the same greedy reply.
    let c2 = h
        .invoke("create_conversation", json!({"title": null}))
        .unwrap();
    let id2 = c2["id"].as_str().unwrap().to_string();
    greedy(&h, &id2, 4);
    assert_eq!(turn(&h, &id2), first);
    assert_eq!(
        h.invoke("system_info", json!({})).unwrap()["modelState"],
        "loaded"
    );
}
