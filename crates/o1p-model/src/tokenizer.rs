//! The tokenizer of a checkpoint: `tokenizer.json` plus what the neighbouring files say about
//! special tokens and chat formatting.
//!
//! - `tokenizer.json`: the vocabulary, merges and pre-tokenizer (the `tokenizers` crate);
//! - `tokenizer_config.json`: bos / eos / pad token strings and the Jinja `chat_template`;
//! - `generation_config.json`: the eos ids generation stops on (often more than one, e.g.
//!   Llama-3's `<|eot_id|>` and `<|end_of_text|>`).
//!
//! Chat templates are rendered by o1p-data's prompt builder; this crate only carries the string,
//! so the model crate needs no template engine.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{ModelError, Result};

/// Special token ids of a tokenizer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence, with its text.
    pub bos: Option<(u32, String)>,
    /// The eos token of tokenizer_config.json, with its text.
    pub eos: Option<(u32, String)>,
    /// Padding token, with its text.
    pub pad: Option<(u32, String)>,
    /// Every id generation stops on: the eos token plus generation_config.json's eos ids.
    pub stop_ids: Vec<u32>,
    /// Whether a bos token is prepended when encoding a prompt (`add_bos_token`).
    pub add_bos: bool,
}

/// A loaded tokenizer.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    special: SpecialTokens,
    chat_template: Option<String>,
    path: PathBuf,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("path", &self.path)
            .field("vocab_size", &self.vocab_size())
            .field("special", &self.special)
            .finish()
    }
}

impl Tokenizer {
    /// Loads `dir/tokenizer.json`, and `dir/tokenizer_config.json` and
    /// `dir/generation_config.json` where present.
    ///
    /// `dir` may also be a `.gguf` file: its metadata holds the whole tokenizer
    /// ([`Tokenizer::from_gguf`]).
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if dir.is_file()
            && dir
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        {
            return Self::from_gguf(&crate::gguf::GgufFile::open(dir)?);
        }
        let path = dir.join("tokenizer.json");
        let inner = tokenizers::Tokenizer::from_file(&path).map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            problem: e.to_string(),
        })?;
        let config = read_json_if_present(&dir.join("tokenizer_config.json"))?;
        let generation = read_json_if_present(&dir.join("generation_config.json"))?;
        let model_config = read_json_if_present(&dir.join("config.json"))?;

        let token = |key: &str| -> Option<(u32, String)> {
            let text = config.as_ref().and_then(|c| token_text(c.get(key)?))?;
            let id = inner.token_to_id(&text)?;
            Some((id, text))
        };
        let bos = token("bos_token");
        let eos = token("eos_token");
        let pad = token("pad_token");
        let add_bos = config
            .as_ref()
            .and_then(|c| c.get("add_bos_token"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut stop_ids: Vec<u32> = eos.iter().map(|(id, _)| *id).collect();
        for source in [&generation, &model_config].into_iter().flatten() {
            stop_ids.extend(ids(source.get("eos_token_id")));
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();

        let chat_template = config
            .as_ref()
            .and_then(|c| chat_template(c.get("chat_template")?));
        Ok(Tokenizer {
            inner,
            special: SpecialTokens {
                bos,
                eos,
                pad,
                stop_ids,
                add_bos,
            },
            chat_template,
            path,
        })
    }

    /// Wraps a tokenizer built elsewhere (for instance from GGUF metadata).
    pub fn from_parts(
        inner: tokenizers::Tokenizer,
        special: SpecialTokens,
        chat_template: Option<String>,
        origin: impl Into<PathBuf>,
    ) -> Self {
        Tokenizer {
            inner,
            special,
            chat_template,
            path: origin.into(),
        }
    }

    /// Token ids of `text`. Special-token strings in the text (`<|im_start|>`) become their ids;
    /// a bos id is prepended only when `add_bos` is set (chat templates usually write it out).
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                problem: e.to_string(),
            })?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if let (true, Some((bos, _))) = (add_bos, &self.special.bos) {
            ids.push(*bos);
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// Token ids of a rendered prompt: a bos id is prepended only when the tokenizer asks for
    /// one (`add_bos_token`) and the text (a chat template's output, say) does not already start
    /// with the bos string, as transformers does for `tokenizer(text)` after
    /// `apply_chat_template`. The sampler and the trainer both encode prompts with this, so a
    /// response is trained under exactly the prompt it was sampled from.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        let starts_with_bos = self
            .special
            .bos
            .as_ref()
            .is_some_and(|(_, s)| !s.is_empty() && text.starts_with(s.as_str()));
        self.encode(text, self.special.add_bos && !starts_with_bos)
    }

    /// Text of `ids`; special tokens are dropped when `skip_special` is set.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                problem: e.to_string(),
            })
    }

    /// Id of a token string, if it is in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The special tokens.
    pub fn special(&self) -> &SpecialTokens {
        &self.special
    }

    /// The Jinja chat template of tokenizer_config.json (the default one when several are named).
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

fn read_json_if_present(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| ModelError::Json {
                path: path.to_path_buf(),
                error: source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ModelError::io(path, e)),
    }
}

/// A special token is written either as a string or as an `AddedToken` object.
fn token_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

fn ids(v: Option<&Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| vec![n as u32]).unwrap_or_default(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_u64)
            .map(|n| n as u32)
            .collect(),
        _ => Vec::new(),
    }
}

/// `chat_template` is a string, or a list of `{name, template}` of which "default" is used.
fn chat_template(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let named = |want: &str| {
                items.iter().find_map(|item| {
                    (item.get("name")?.as_str()? == want)
                        .then(|| item.get("template")?.as_str().map(str::to_string))
                        .flatten()
                })
            };
            named("default").or_else(|| {
                items
                    .first()
                    .and_then(|i| i.get("template")?.as_str().map(str::to_string))
            })
        }
        _ => None,
    }
}
