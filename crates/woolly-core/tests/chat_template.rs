//! The test model's own chat template, rendered byte for byte.

mod common;

use woolly_core::chat::{ChatMessage, ChatTemplate};
use woolly_core::gguf::GgufFile;

fn template() -> ChatTemplate {
    ChatTemplate::from_gguf(&GgufFile::open(common::test_model()).unwrap()).unwrap()
}

#[test]
fn matches_the_reference_chat_prompt() {
    // llama.cpp's reference prompt for the haiku case was rendered by this template.
    let refdata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(common::refdata("smollm2-greedy.json")).unwrap())
            .unwrap();
    let expected = refdata["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["prompt"].as_str().unwrap().contains("haiku"))
        .unwrap()["prompt"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = template();
    assert!(!t.is_fallback());
    let out = t
        .render(&[ChatMessage::user("Write a haiku about the ocean.")], true)
        .unwrap();
    assert_eq!(out, expected);
}

#[test]
fn explicit_system_prompt_and_multi_turn() {
    let out = template()
        .render(
            &[
                ChatMessage::system("Be brief."),
                ChatMessage::user("Hi"),
                ChatMessage::assistant("Hello!"),
                ChatMessage::user("Bye"),
            ],
            false,
        )
        .unwrap();
    assert_eq!(
        out,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
    );
}

#[test]
fn model_without_template_gets_the_fallback() {
    let mut w = woolly_core::gguf::GgufWriter::new();
    w.meta(
        "general.architecture",
        woolly_core::gguf::Value::String("llama".into()),
    );
    let f = GgufFile::from_bytes(w.to_bytes(), "bare.gguf").unwrap();
    let t = ChatTemplate::from_gguf(&f).unwrap();
    assert!(t.is_fallback());
    assert_eq!(
        t.render(&[ChatMessage::user("Hi")], true).unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
}
