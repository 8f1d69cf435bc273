//! `woolly tokenize` reproduces llama.cpp's tokenization of the 30 reference strings.

mod common;

#[test]
fn reference_strings_tokenize_exactly() {
    let model = common::test_model();
    let model = model.to_str().unwrap();
    let refdata = common::refdata("smollm2-tokenize.json");
    let cases = refdata["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 30);
    let mut failures = Vec::new();
    for case in cases {
        let text = case["text"].as_str().unwrap();
        for (flag, key) in [
            (None, "ids"),
            (Some("--no-parse-special"), "ids_no_parse_special"),
        ] {
            let mut args = vec!["tokenize", "-m", model];
            args.extend(flag);
            args.extend(["--", text]);
            let got = common::woolly_json(&args);
            if got != case[key] {
                failures.push(format!("{text:?} ({key}): got {got}, want {}", case[key]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn stdin_input_and_errors() {
    let model = common::test_model();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_woolly"))
        .args(["tokenize", "-m", model.to_str().unwrap(), "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"Hello world")?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[19556,905]");

    let out = common::woolly(&["tokenize", "-m", "/nonexistent.gguf", "hi"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.gguf"));
}
