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

mod tools {
    use serde_json::json;
    use woolly_core::chat::{ChatMessage, ChatTemplate, FALLBACK_TEMPLATE};

    fn weather_tool() -> serde_json::Value {
        json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}})
    }

    fn history() -> Vec<ChatMessage> {
        let mut call = ChatMessage::assistant("");
        call.tool_calls = vec![json!({"id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}})];
        let mut result = ChatMessage::new("tool", "-3 C");
        result.tool_call_id = Some("c1".into());
        vec![ChatMessage::user("Weather in Oslo?"), call, result]
    }

    #[test]
    fn a_template_that_reads_tools_gets_them_and_the_calls() {
        let t = ChatTemplate::new(
            "{% if tools %}{% for t in tools %}[{{ t.function.name }}]{% endfor %}{% endif %}\
             {% for m in messages %}{{ m.role }}:{{ m.content }}\
             {% for c in m.tool_calls or [] %}<{{ c.function.name }} {{ c.function.arguments | tojson }}>{% endfor %}\
             {% if m.tool_call_id %}({{ m.tool_call_id }}){% endif %}|{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let out = t
            .render_with_tools(&history(), &[weather_tool()], false)
            .unwrap();
        assert_eq!(
            out,
            "[get_weather]user:Weather in Oslo?|assistant:<get_weather {\"city\":\"Oslo\"}>|tool:-3 C(c1)|"
        );
        // Without tools the template sees none.
        assert!(!t
            .render(&history(), false)
            .unwrap()
            .contains("[get_weather]"));
    }

    #[test]
    fn other_templates_get_the_fallback_prompt_and_plain_turns() {
        let t = ChatTemplate::new(FALLBACK_TEMPLATE, "", "").unwrap();
        let out = t
            .render_with_tools(&history(), &[weather_tool()], true)
            .unwrap();
        let expected = format!(
            "<|im_start|>system\n{}<|im_end|>\n\
             <|im_start|>user\nWeather in Oslo?<|im_end|>\n\
             <|im_start|>assistant\n<tool_call>\n{{\"name\":\"get_weather\",\"arguments\":{{\"city\":\"Oslo\"}}}}\n</tool_call><|im_end|>\n\
             <|im_start|>tool\n<tool_response>\n-3 C\n</tool_response><|im_end|>\n\
             <|im_start|>assistant\n",
            woolly_core::chat::tools::fallback_prompt(&[weather_tool()])
        );
        assert_eq!(out, expected);
        assert!(
            expected.contains("\"name\":\"get_weather\""),
            "the tool is listed"
        );
    }

    #[test]
    fn a_template_that_refuses_the_tool_role_gets_a_user_turn() {
        let t = ChatTemplate::new(
            "{% for m in messages %}{% if m.role not in ['system', 'user', 'assistant'] %}\
             {{ raise_exception('bad role ' + m.role) }}{% endif %}{{ m.role }}:{{ m.content }}|{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let out = t.render_with_tools(&history(), &[], false).unwrap();
        assert_eq!(
            out,
            "user:Weather in Oslo?|assistant:<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>|user:<tool_response>\n-3 C\n</tool_response>|"
        );
    }
}
