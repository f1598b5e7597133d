//! Prompt rendering, raw and through real chat-template shapes (ChatML / Qwen2.5, Llama 3,
//! DeepSeek-R1-Distill style). Expected strings were written out by hand from the templates'
//! definitions, and confirmed with transformers 5.24's `render_jinja_template` (the code
//! behind `apply_chat_template`).

use std::path::Path;

use o1p_data::{ChatMessage, ChatTemplate, DataError, PromptRenderer, PromptTemplate};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(path).unwrap()
}

const SYS: &str = "You are a helpful assistant. You should think step-by-step and put your final answer within \\boxed{}.";

#[test]
fn raw_paper_prompt() {
    let t = PromptTemplate::default();
    assert_eq!(
        t.render_raw("What is 1+1?").unwrap(),
        format!("{SYS}\n\nSolve the problem: What is 1+1?")
    );
    let fast = t.with_fast_solving(true);
    assert_eq!(
        fast.user_message("What is 1+1?").unwrap(),
        "Solve the problem: What is 1+1? Be confident. Solving this problem quickly with less pause, stop or reflection."
    );
    let bad = PromptTemplate {
        user: "no placeholder".into(),
        ..PromptTemplate::default()
    };
    assert!(matches!(
        bad.render_raw("q"),
        Err(DataError::InvalidArgument(_))
    ));
}

#[test]
fn qwen25_chatml() {
    let chat =
        ChatTemplate::new(&fixture("qwen2_5_chat_template.jinja"), "", "<|im_end|>").unwrap();
    let renderer = PromptRenderer::Chat(chat.clone());
    let text = PromptTemplate::default()
        .render("What is 1+1?", &renderer)
        .unwrap();
    assert_eq!(
        text,
        format!(
            "<|im_start|>system\n{SYS}<|im_end|>\n<|im_start|>user\nSolve the problem: What is 1+1?<|im_end|>\n<|im_start|>assistant\n"
        )
    );
    // Without a system message the template supplies Qwen's default one.
    let no_sys = PromptTemplate {
        system: None,
        ..PromptTemplate::default()
    };
    assert_eq!(
        no_sys.render("2+2?", &renderer).unwrap(),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nSolve the problem: 2+2?<|im_end|>\n<|im_start|>assistant\n"
    );
    // A full conversation, no generation prompt (training-record layout).
    let msgs = [
        ChatMessage::new("user", "Hi"),
        ChatMessage::new("assistant", "\\boxed{2}"),
    ];
    assert_eq!(
        chat.render(&msgs, false).unwrap(),
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n\\boxed{2}<|im_end|>\n"
    );
}

#[test]
fn llama3() {
    let chat = ChatTemplate::new(
        &fixture("llama3_chat_template.jinja"),
        "<|begin_of_text|>",
        "<|eot_id|>",
    )
    .unwrap();
    let text = PromptTemplate::default()
        .render("  What is 1+1?  ", &PromptRenderer::Chat(chat))
        .unwrap();
    // `| trim` strips the user message, as in transformers.
    assert_eq!(
        text,
        format!(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{SYS}<|eot_id|>\
             <|start_header_id|>user<|end_header_id|>\n\nSolve the problem:   What is 1+1?<|eot_id|>\
             <|start_header_id|>assistant<|end_header_id|>\n\n"
        )
    );
}

#[test]
fn from_tokenizer_configs() {
    let q = ChatTemplate::from_tokenizer_config(&fixture("qwen2_5_tokenizer_config.json")).unwrap();
    let l = ChatTemplate::from_tokenizer_config(&fixture("llama3_tokenizer_config.json")).unwrap();
    let m = [ChatMessage::new("user", "x")];
    assert!(
        q.render(&m, true)
            .unwrap()
            .ends_with("<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n")
    );
    assert!(
        l.render(&m, false)
            .unwrap()
            .starts_with("<|begin_of_text|><|start_header_id|>user")
    );
    assert!(matches!(
        ChatTemplate::from_tokenizer_config("{}"),
        Err(DataError::TokenizerConfig(_))
    ));
    let listed = r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}], "eos_token": "</s>"}"#;
    assert_eq!(
        ChatTemplate::from_tokenizer_config(listed)
            .unwrap()
            .render(&m, false)
            .unwrap(),
        "D</s>"
    );
}

#[test]
fn hf_jinja_semantics() {
    // trim_blocks + lstrip_blocks: block tags on their own lines leave no blank lines.
    let t = ChatTemplate::new("{% for m in messages %}\n    {% if m.role == 'user' %}\n{{ m.role }}: {{ m.content }}\n    {% endif %}\n{% endfor %}\n", "", "").unwrap();
    let m = [
        ChatMessage::new("system", "s"),
        ChatMessage::new("user", "hi"),
    ];
    assert_eq!(t.render(&m, false).unwrap(), "user: hi\n");
    // Python string methods (pycompat) and loop controls.
    let t = ChatTemplate::new("{% for m in messages %}{% if m.content.startswith('skip') %}{% continue %}{% endif %}[{{ m.content.strip().upper() }}]{% endfor %}", "", "").unwrap();
    let m = [
        ChatMessage::new("user", " a "),
        ChatMessage::new("user", "skip me"),
        ChatMessage::new("user", "b"),
    ];
    assert_eq!(t.render(&m, false).unwrap(), "[A][B]");
    // raise_exception becomes a typed error carrying the template's message.
    let t = ChatTemplate::new("{% if messages[0].role != 'user' %}{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}ok", "", "").unwrap();
    assert_eq!(
        t.render(&[ChatMessage::new("user", "x")], true).unwrap(),
        "ok"
    );
    let err = t
        .render(&[ChatMessage::new("assistant", "x")], true)
        .unwrap_err();
    assert!(
        matches!(&err, DataError::Template(m) if m.contains("Conversation roles must alternate")),
        "{err}"
    );
    // Syntax errors are reported at construction.
    assert!(matches!(
        ChatTemplate::new("{% if %}", "", ""),
        Err(DataError::Template(_))
    ));
}

#[test]
fn deepseek_r1_style() {
    // namespace(), `in`, str.split()[-1]: the constructs of the R1-distill template.
    let bos = "<\u{ff5c}begin\u{2581}of\u{2581}sentence\u{ff5c}>";
    let chat =
        ChatTemplate::new(&fixture("deepseek_r1_style_chat_template.jinja"), bos, "").unwrap();
    let text = PromptTemplate::default()
        .render("1+1?", &PromptRenderer::Chat(chat.clone()))
        .unwrap();
    assert_eq!(
        text,
        format!(
            "{bos}{SYS}<\u{ff5c}User\u{ff5c}>Solve the problem: 1+1?<\u{ff5c}Assistant\u{ff5c}><think>\n"
        )
    );
    let m = [
        ChatMessage::new("user", "1+1?"),
        ChatMessage::new("assistant", "<think>\nhmm</think>\n\n\\boxed{2}"),
    ];
    assert_eq!(
        chat.render(&m, false).unwrap(),
        format!(
            "{bos}<\u{ff5c}User\u{ff5c}>1+1?<\u{ff5c}Assistant\u{ff5c}>\n\n\\boxed{{2}}<\u{ff5c}end\u{2581}of\u{2581}sentence\u{ff5c}>"
        )
    );
}
