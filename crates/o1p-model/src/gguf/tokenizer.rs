//! The tokenizer kept in a GGUF file's metadata, rebuilt as a [`Tokenizer`].
//!
//! Only byte-level BPE vocabularies (`tokenizer.ggml.model == "gpt2"`: GPT-2, Llama-3, Qwen2,
//! SmolLM, the DeepSeek-R1 distills) are read. The pieces come from these keys:
//!
//! - `tokenizer.ggml.tokens` / `merges`: the BPE vocabulary (id = position) and merge ranks;
//! - `tokenizer.ggml.token_type`: 3 (control, e.g. `<|im_end|>`) becomes a special added token,
//!   4 (user-defined, e.g. `<think>`) a plain added token; both are matched whole in the text, as
//!   llama.cpp does and as the checkpoint's original `tokenizer.json` did;
//! - `tokenizer.ggml.pre`: which pre-tokenizer split the merges were learned on. A GGUF does not
//!   store the regex, only this name, so the regex (and llama.cpp's `ignore_merges` flag) is
//!   looked up in a table that follows llama.cpp's `llama-vocab.cpp` and the original
//!   `tokenizer.json` files; an unknown name is an error, never a silent GPT-2 fallback that
//!   would tokenize differently;
//! - `tokenizer.ggml.{bos,eos,padding,eot,eom}_token_id`, `add_bos_token`, and
//!   `tokenizer.chat_template`.
//!
//! Where transformers' own GGUF converter (5.x) departs from llama.cpp we follow llama.cpp,
//! which reproduces the original tokenizer: transformers drops control tokens spelled outside
//! the byte alphabet (`<｜User｜>` is then cut into bytes and a new id is invented for
//! `<｜begin▁of▁sentence｜>`), and it ignores `smollm`'s one-digit split.

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use super::GgufFile;
use crate::error::{ModelError, Result};
use crate::tokenizer::{SpecialTokens, Tokenizer};

/// llama.cpp's token types (`llama_token_type`) that become added tokens.
const TOKEN_TYPE_CONTROL: u64 = 3;
const TOKEN_TYPE_USER_DEFINED: u64 = 4;

/// Qwen2 / Qwen2.5 / Qwen3 and the R1 Qwen distills: one digit per piece.
const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Llama-3: up to three digits per piece.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The pre-tokenizer families this crate reproduces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PreTokenizer {
    /// GPT-2's regex (`ByteLevel` with `use_regex`).
    Gpt2,
    /// GPT-2's regex after splitting every digit off (llama.cpp's `smollm`, the original
    /// SmolLM2 `tokenizer.json`'s `Digits(individual_digits)`).
    Smollm,
    /// [`LLAMA3_SPLIT`], with whole-word vocabulary hits taking precedence over merges.
    Llama3,
    /// [`QWEN2_SPLIT`].
    Qwen2,
}

/// `tokenizer.ggml.pre` names and their family, as llama.cpp maps them.
const KNOWN_PRE: &[(&str, PreTokenizer)] = &[
    ("gpt2", PreTokenizer::Gpt2),
    ("gpt-2", PreTokenizer::Gpt2),
    ("smollm", PreTokenizer::Smollm),
    ("llama3", PreTokenizer::Llama3),
    ("llama-v3", PreTokenizer::Llama3),
    ("llama-bpe", PreTokenizer::Llama3),
    ("qwen2", PreTokenizer::Qwen2),
    ("deepseek-r1-qwen", PreTokenizer::Qwen2),
];

impl Tokenizer {
    /// The tokenizer kept in a GGUF file's metadata: byte-level BPE from `tokenizer.ggml.tokens`
    /// and `merges`, the pre-tokenizer named by `tokenizer.ggml.pre` (`gpt2`, `smollm`,
    /// `llama-bpe` / `llama3`, `qwen2`, `deepseek-r1-qwen`, ...), control and user-defined tokens
    /// matched whole, the bos / eos / pad ids, `add_bos_token` and `tokenizer.chat_template`.
    /// Works on a file cut off after its header, since no tensor data is touched.
    ///
    /// ```no_run
    /// let file = o1p_model::gguf::GgufFile::open("SmolLM2-135M-Instruct.Q4_1.gguf")?;
    /// let tokenizer = o1p_model::Tokenizer::from_gguf(&file)?;
    /// let ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>", false)?;
    /// # Ok::<(), o1p_model::ModelError>(())
    /// ```
    ///
    /// Fails with [`ModelError::Gguf`] naming the key when the vocabulary is not byte-level BPE,
    /// the pre-tokenizer is not one of the known names (the message lists them), or a key holds
    /// a value of the wrong kind or an id outside the vocabulary.
    pub fn from_gguf(file: &GgufFile) -> Result<Self> {
        let err = |problem: String| ModelError::Gguf {
            path: file.path().to_path_buf(),
            problem,
        };
        let model = string_key(file, "tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(err(format!(
                "tokenizer.ggml.model is `{model}`; only `gpt2` (byte-level BPE) is supported"
            )));
        }
        let pre_name = string_key(file, "tokenizer.ggml.pre")?;
        let pre = KNOWN_PRE
            .iter()
            .find(|(name, _)| *name == pre_name)
            .map(|&(_, pre)| pre)
            .ok_or_else(|| {
                let known: Vec<_> = KNOWN_PRE.iter().map(|(name, _)| *name).collect();
                err(format!(
                    "tokenizer.ggml.pre `{pre_name}` is not supported (known: {})",
                    known.join(", ")
                ))
            })?;

        let tokens = strings(file, "tokenizer.ggml.tokens")?;
        let merges = strings(file, "tokenizer.ggml.merges")?;
        let token_types: Vec<u64> = match file.get("tokenizer.ggml.token_type") {
            None => vec![1; tokens.len()],
            Some(value) => {
                let items = value
                    .as_array()
                    .ok_or_else(|| err("tokenizer.ggml.token_type is not an array".into()))?;
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        v.as_u64().ok_or_else(|| {
                            err(format!(
                                "tokenizer.ggml.token_type[{i}] is {v:?}, not a type id"
                            ))
                        })
                    })
                    .collect::<Result<_>>()?
            }
        };
        if token_types.len() != tokens.len() {
            return Err(err(format!(
                "tokenizer.ggml.token_type has {} entries for {} tokens",
                token_types.len(),
                tokens.len()
            )));
        }
        let n_vocab = u32::try_from(tokens.len())
            .map_err(|_| err(format!("{} tokens do not fit u32 ids", tokens.len())))?;

        // The BPE vocabulary. Added tokens keep their own spelling (so that matching them in
        // the text finds their id); any other token outside the byte alphabet is respelled byte
        // by byte, as transformers does, so that the merges can reach it.
        let mut vocab: Vocab = Vocab::default();
        for (id, (token, &ty)) in (0..n_vocab).zip(tokens.iter().zip(&token_types)) {
            let added = ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED;
            let spelled = if added || token.chars().all(is_byte_level_char) {
                token.clone()
            } else {
                respell(token)
            };
            vocab.insert(spelled, id);
        }
        let merges = merges
            .iter()
            .enumerate()
            .map(|(i, merge)| {
                // llama.cpp splits at the first space after the first character.
                merge
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| c == ' ')
                    .map(|(at, _)| (merge[..at].to_string(), merge[at + 1..].to_string()))
                    .ok_or_else(|| {
                        err(format!("tokenizer.ggml.merges[{i}] `{merge}` has no space"))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(pre == PreTokenizer::Llama3)
            .build()
            .map_err(|e| err(format!("tokenizer.ggml.merges: {e}")))?;

        let mut inner = tokenizers::Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre).map_err(err)?));
        inner.with_decoder(Some(ByteLevelDecoder::default()));
        let added = |want: u64, special: bool| -> Vec<AddedToken> {
            tokens
                .iter()
                .zip(&token_types)
                .filter(|&(_, &ty)| ty == want)
                .map(|(t, _)| AddedToken::from(t.clone(), special).normalized(false))
                .collect()
        };
        inner
            .add_special_tokens(added(TOKEN_TYPE_CONTROL, true))
            .map_err(|e| err(format!("tokenizer.ggml.token_type: {e}")))?;
        inner
            .add_tokens(added(TOKEN_TYPE_USER_DEFINED, false))
            .map_err(|e| err(format!("tokenizer.ggml.token_type: {e}")))?;

        let id_key = |key: &str| -> Result<Option<(u32, String)>> {
            let Some(value) = file.get(key) else {
                return Ok(None);
            };
            let id = value
                .as_u64()
                .and_then(|id| u32::try_from(id).ok())
                .filter(|&id| id < n_vocab)
                .ok_or_else(|| {
                    err(format!(
                        "{key} is {value:?}, not a token id below the vocabulary size {n_vocab}"
                    ))
                })?;
            Ok(Some((id, tokens[id as usize].clone())))
        };
        let bos = id_key("tokenizer.ggml.bos_token_id")?;
        let eos = id_key("tokenizer.ggml.eos_token_id")?;
        let pad = id_key("tokenizer.ggml.padding_token_id")?;
        let mut stop_ids: Vec<u32> = eos.iter().map(|(id, _)| *id).collect();
        for key in ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            stop_ids.extend(id_key(key)?.map(|(id, _)| id));
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();
        // llama.cpp's default when the key is absent: on for the Llama-3 family only.
        let add_bos = match file.get("tokenizer.ggml.add_bos_token") {
            None => pre == PreTokenizer::Llama3,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| err(format!("tokenizer.ggml.add_bos_token is {v:?}, not a bool")))?,
        };
        let chat_template = match file.get("tokenizer.chat_template") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| err("tokenizer.chat_template is not a string".into()))?
                    .to_string(),
            ),
        };
        Ok(Tokenizer::from_parts(
            inner,
            SpecialTokens {
                bos,
                eos,
                pad,
                stop_ids,
                add_bos,
            },
            chat_template,
            file.path(),
        ))
    }
}

fn pre_tokenizer(pre: PreTokenizer) -> std::result::Result<PreTokenizerWrapper, String> {
    let split = |pattern: &str| -> std::result::Result<PreTokenizerWrapper, String> {
        Split::new(
            SplitPattern::Regex(pattern.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .map(Into::into)
        .map_err(|e| format!("pre-tokenizer regex: {e}"))
    };
    Ok(match pre {
        PreTokenizer::Gpt2 => ByteLevel::new(false, true, true).into(),
        PreTokenizer::Smollm => Sequence::new(vec![
            split(r"\p{N}")?,
            ByteLevel::new(false, true, true).into(),
        ])
        .into(),
        PreTokenizer::Llama3 => Sequence::new(vec![
            split(LLAMA3_SPLIT)?,
            ByteLevel::new(false, true, false).into(),
        ])
        .into(),
        PreTokenizer::Qwen2 => Sequence::new(vec![
            split(QWEN2_SPLIT)?,
            ByteLevel::new(false, false, false).into(),
        ])
        .into(),
    })
}

fn string_key<'a>(file: &'a GgufFile, key: &str) -> Result<&'a str> {
    file.get(key)
        .ok_or_else(|| ModelError::Gguf {
            path: file.path().to_path_buf(),
            problem: format!("missing metadata key {key}"),
        })?
        .as_str()
        .ok_or_else(|| ModelError::Gguf {
            path: file.path().to_path_buf(),
            problem: format!("{key} is not a string"),
        })
}

fn strings(file: &GgufFile, key: &str) -> Result<Vec<String>> {
    let err = |problem: String| ModelError::Gguf {
        path: file.path().to_path_buf(),
        problem,
    };
    file.get(key)
        .ok_or_else(|| err(format!("missing metadata key {key}")))?
        .as_array()
        .ok_or_else(|| err(format!("{key} is not an array")))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| err(format!("{key}[{i}] is {v:?}, not a string")))
        })
        .collect()
}

/// Whether `c` is one of the 256 characters GPT-2's byte-level alphabet spells bytes with:
/// printable Latin-1 stands for itself, the other 68 bytes for U+0100..U+0143.
fn is_byte_level_char(c: char) -> bool {
    matches!(c as u32, 33..=126 | 161..=172 | 174..=255 | 256..=323)
}

/// `token`'s UTF-8 bytes spelled in the byte-level alphabet (transformers' `bytes_to_unicode`).
fn respell(token: &str) -> String {
    let table = byte_level_table();
    token.bytes().map(|b| table[b as usize]).collect()
}

/// GPT-2's `bytes_to_unicode`: byte -> the character that spells it.
fn byte_level_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut next = 256u32;
    for (b, slot) in (0..=255u8).zip(table.iter_mut()) {
        *slot = if is_byte_level_char(char::from(b)) {
            char::from(b)
        } else {
            let spelled = char::from_u32(next).expect("U+0100..U+0143 are chars");
            next += 1;
            spelled
        };
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_gpt2s() {
        let table = byte_level_table();
        // Known entries of bytes_to_unicode: space -> Ġ, newline -> Ċ, 0xAD -> Ń.
        assert_eq!(table[b' ' as usize], 'Ġ');
        assert_eq!(table[b'\n' as usize], 'Ċ');
        assert_eq!(table[0xad], 'Ń');
        assert_eq!(table[b'a' as usize], 'a');
        let distinct: std::collections::HashSet<_> = table.iter().collect();
        assert_eq!(distinct.len(), 256);
        assert!(table.iter().all(|&c| is_byte_level_char(c)));
        assert_eq!(respell("é"), "Ã©");
    }
}
