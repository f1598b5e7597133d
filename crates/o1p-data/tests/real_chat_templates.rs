//! The real chat templates of DeepSeek-R1-Distill-Qwen-32B, Qwen2.5-7B-Instruct and
//! Llama-3.1-8B-Instruct (llama.cpp's copies, fetched by `scripts/fetch-assets.sh`) render exactly
//! as transformers' `apply_chat_template` renders them: system messages, multi-turn
//! conversations, reasoning stripped from earlier assistant turns, whitespace and unicode, with
//! and without the generation prompt. The goldens are in `fixtures/real_chat_templates/`.

#[path = "../../o1p-model/tests/support/assets.rs"]
mod assets;

use std::path::Path;

use o1p_data::{ChatMessage, ChatTemplate};
use serde_json::Value;

#[test]
fn real_templates_render_like_transformers() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real_chat_templates/goldens.json");
    let goldens: Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let templates = goldens["templates"].as_array().unwrap();
    assert_eq!(templates.len(), 3);
    let mut failures = Vec::new();
    let mut checked = 0;
    for golden in templates {
        let file = golden["file"].as_str().unwrap();
        let Some(path) = assets::asset(file) else {
            continue;
        };
        let source = std::fs::read_to_string(&path).unwrap();
        let template = ChatTemplate::new(
            &source,
            golden["bos_token"].as_str().unwrap(),
            golden["eos_token"].as_str().unwrap(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        for case in golden["cases"].as_array().unwrap() {
            let messages: Vec<ChatMessage> =
                serde_json::from_value(case["messages"].clone()).unwrap();
            let generation = case["add_generation_prompt"].as_bool().unwrap();
            let want = case["rendered"].as_str().unwrap();
            match template.render(&messages, generation) {
                Ok(got) if got == want => {}
                Ok(got) => failures.push(format!(
                    "{file} / {} / add_generation_prompt={generation}\n  got  {got:?}\n  want {want:?}",
                    case["conversation"]
                )),
                Err(e) => failures.push(format!("{file} / {}: {e}", case["conversation"])),
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if checked > 0 {
        assert_eq!(checked, 24);
    }
}

#[test]
fn tools_and_documents_are_defined_as_none_like_in_transformers() {
    // transformers renders with tools=None and documents=None; the Llama-3.1 and Hermes
    // templates branch on `tools is defined` / `tools is not none`.
    let source =
        "{{ tools is defined }}|{{ tools is none }}|{{ documents is none }}|{{ other is defined }}";
    let template = ChatTemplate::new(source, "", "").unwrap();
    let rendered = template
        .render(&[ChatMessage::new("user", "x")], false)
        .unwrap();
    // Python spells booleans `True`, and minijinja-contrib's pycompat does too.
    assert_eq!(rendered, "True|True|True|False");
}
