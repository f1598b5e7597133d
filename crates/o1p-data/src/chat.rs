//! Hugging Face chat templates (tokenizer_config.json's `chat_template`) rendered with
//! minijinja, configured the way transformers' `apply_chat_template` configures Jinja2:
//! `trim_blocks` and `lstrip_blocks` on, trailing newline dropped, loop controls, a
//! `raise_exception` global, Python string/dict methods (`.strip()`, `.items()`, ...) through
//! minijinja-contrib's pycompat, and `bos_token` / `eos_token` / `add_generation_prompt` /
//! `messages` in the context, with `tools` and `documents` set to none.
//!
//! `strftime_now` is deliberately not defined: templates that use it guard it with
//! `is defined` and fall back to a fixed date, which keeps prompts (and so resumable
//! pre-sampling) identical from day to day.

use std::fmt;
use std::sync::Arc;

use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, Value, context};
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `"system"`, `"user"` or `"assistant"`.
    pub role: String,
    /// The message text.
    pub content: String,
}

impl ChatMessage {
    /// A message with the given role and content.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: role.into(),
            content: content.into(),
        }
    }
}

const NAME: &str = "chat_template";

/// A compiled chat template with its special tokens. Cheap to clone.
///
/// ```
/// use o1p_data::{ChatMessage, ChatTemplate};
/// let chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}\
///               {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
/// let t = ChatTemplate::new(chatml, "", "<|im_end|>").unwrap();
/// let text = t.render(&[ChatMessage::new("user", "Hi")], true).unwrap();
/// assert_eq!(text, "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
/// ```
#[derive(Clone)]
pub struct ChatTemplate {
    env: Arc<Environment<'static>>,
    bos_token: String,
    eos_token: String,
}

impl fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source` (Jinja) with the given BOS and EOS token strings.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(template_error)?;
        env.set_syntax(syntax);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(NAME, source.to_string())
            .map_err(template_error)?;
        Ok(ChatTemplate {
            env: Arc::new(env),
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    /// Builds the template from the text of a `tokenizer_config.json`: its `chat_template`
    /// (a string, or a list of `{name, template}` from which `"default"` is taken) and its
    /// `bos_token` / `eos_token` (strings or `{"content": ...}` objects; absent means `""`).
    ///
    /// ```
    /// let cfg = r#"{"chat_template": "{{ bos_token }}{{ messages[0].content }}",
    ///               "bos_token": {"content": "<s>"}, "eos_token": "</s>"}"#;
    /// let t = o1p_data::ChatTemplate::from_tokenizer_config(cfg).unwrap();
    /// let m = [o1p_data::ChatMessage::new("user", "x")];
    /// assert_eq!(t.render(&m, false).unwrap(), "<s>x");
    /// ```
    pub fn from_tokenizer_config(json: &str) -> Result<Self> {
        let cfg: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| DataError::TokenizerConfig(format!("not JSON: {e}")))?;
        let source = match cfg.get("chat_template") {
            Some(serde_json::Value::String(s)) => s.as_str(),
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or_else(|| {
                    DataError::TokenizerConfig("no \"default\" entry in chat_template list".into())
                })?,
            _ => return Err(DataError::TokenizerConfig("no chat_template".into())),
        };
        let token = |key: &str| match cfg.get(key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v
                .get("content")
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        ChatTemplate::new(source, &token("bos_token"), &token("eos_token"))
    }

    /// Renders `messages`; with `add_generation_prompt` the text ends with the opening of
    /// the assistant's turn.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template(NAME).map_err(template_error)?;
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| context! { role => m.role.as_str(), content => m.content.as_str() })
            .collect();
        // transformers always passes `tools` and `documents`, as None when there are none, so
        // `tools is defined` holds and `tools is none` is true; leaving them undefined would
        // flip both tests in templates that make them.
        template
            .render(context! {
                messages,
                add_generation_prompt,
                bos_token => self.bos_token.as_str(),
                eos_token => self.eos_token.as_str(),
                tools => (),
                documents => (),
            })
            .map_err(template_error)
    }
}

/// Templates call `raise_exception("...")` to reject conversations they cannot format
/// (e.g. roles that do not alternate); the message becomes a [`DataError::Template`].
fn raise_exception(message: String) -> std::result::Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

fn template_error(e: Error) -> DataError {
    DataError::Template(e.to_string())
}
