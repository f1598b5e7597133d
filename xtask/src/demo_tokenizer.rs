//! The character-level tokenizer of the embedded demo model.
//!
//! One token per character of [`o1p_data::demo::ALPHABET`], after four special tokens:
//!
//! | id | token     | role                                                     |
//! |----|-----------|----------------------------------------------------------|
//! | 0  | `<pad>`   | padding (never attended to, never a target)              |
//! | 1  | `<bos>`   | start of every sequence (`add_bos_token: true`)          |
//! | 2  | `<eos>`   | end of a response; generation stops on it                |
//! | 3  | `<unk>`   | any character outside the alphabet (Rust side, see below)|
//! | 4… | `Ċ`, `Ġ`, `!`, … | the alphabet, in its order (`\n` and space byte-level spelled) |
//!
//! # Why a byte-level BPE without merges
//! transformers 5 ignores the pipeline of `tokenizer.json` for `model_type: qwen2`: its
//! `AutoTokenizer` always builds a `Qwen2Tokenizer`, which keeps only the vocabulary and the
//! merges and puts Qwen2's own pipeline around them (NFC, Qwen2's split regex, byte-level
//! pre-tokenizer and decoder). A `WordLevel` character vocabulary loses its spaces and
//! newlines there. So the file *is* that pipeline, with a BPE model whose vocabulary is the
//! byte-level spelling of every alphabet character and whose merge list is empty: every
//! character (all are ASCII, one byte) stays one token, in Rust and in Python alike.
//!
//! - normalizer `NFC`; pre-tokenizer `Split(Qwen2 regex, isolated)` then `ByteLevel` (no
//!   prefix space, no regex); model `BPE` (no merges, `<unk>` for unknown bytes); decoder
//!   `ByteLevel`; post-processor `<bos> $A`, so `tokenizer(text)` in Python prepends bos
//!   exactly where [`o1p_model::Tokenizer::encode`] does with `add_bos`.
//! - One difference remains outside the alphabet: `Qwen2Tokenizer` builds its BPE without an
//!   unknown token, so Python drops a character Rust maps to `<unk>`. Demo text never has one.
//!
//! Why here and not in o1p-model: building a tokenizer is a training-time concern of the demo
//! only, and o1p-data (which owns the alphabet) must not depend on `tokenizers`; xtask knows
//! both.

use std::path::Path;

use o1p_data::demo::ALPHABET;
use serde_json::{Value, json};
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::unicode::NFC;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence as PreSequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

/// Padding token.
pub const PAD: &str = "<pad>";
/// Beginning of sequence.
pub const BOS: &str = "<bos>";
/// End of sequence.
pub const EOS: &str = "<eos>";
/// Unknown character.
pub const UNK: &str = "<unk>";
/// The special tokens, in id order (ids 0 to 3).
pub const SPECIALS: [&str; 4] = [PAD, BOS, EOS, UNK];

/// A tiny chat template: one user turn renders exactly the demo's raw prompt
/// (`"Q: {question}\n"`, see [`o1p_data::demo::prompt_template`]) after bos, and an assistant
/// turn is its text plus eos, so chat users and raw-prompt users feed the model the same ids.
pub const CHAT_TEMPLATE: &str = "{{ bos_token }}{% for message in messages %}\
{% if message['role'] == 'user' %}Q: {{ message['content'] }}\n\
{% elif message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}{% endif %}\
{% endfor %}";

/// Why the demo tokenizer could not be built or written.
#[derive(Debug, thiserror::Error)]
pub enum DemoTokenizerError {
    /// The `tokenizers` crate rejected a component.
    #[error("building the demo tokenizer: {0}")]
    Build(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn build_err(e: impl std::fmt::Display) -> DemoTokenizerError {
    DemoTokenizerError::Build(e.to_string())
}

/// Qwen2's pre-tokenizer split (transformers' `PRETOKENIZE_REGEX`), kept verbatim so the
/// file matches what `Qwen2Tokenizer` rebuilds.
pub const QWEN2_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-2's byte-to-character map used by byte-level tokenizers: printable bytes stand for
/// themselves, the others (space, newline, ...) for characters from U+0100 on, in byte order.
pub fn byte_level_char(byte: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(byte) {
        return char::from(byte);
    }
    let rank = (0..byte).filter(|&b| !printable(b)).count() as u32;
    char::from_u32(256 + rank).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The vocabulary spelling of one alphabet character (all are ASCII, so one byte).
fn spelled(c: char) -> String {
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(byte_level_char)
        .collect()
}

/// Every token string in id order: the specials, then the alphabet's characters in their
/// byte-level spelling.
pub fn vocabulary() -> Vec<String> {
    SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain(ALPHABET.chars().map(spelled))
        .collect()
}

/// Id of a special token (its index in [`SPECIALS`]).
pub fn special_id(token: &str) -> Option<u32> {
    SPECIALS.iter().position(|s| *s == token).map(|i| i as u32)
}

/// The demo tokenizer, built in memory.
///
/// ```
/// let tok = xtask::demo_tokenizer::build().unwrap();
/// let enc = tok.encode("Q: 3+4=7\n", false).unwrap();
/// assert_eq!(enc.get_ids().len(), 9);
/// assert_eq!(tok.decode(enc.get_ids(), false).unwrap(), "Q: 3+4=7\n");
/// ```
pub fn build() -> Result<Tokenizer, DemoTokenizerError> {
    let vocab = vocabulary();
    let model = BPE::builder()
        .vocab_and_merges(
            vocab
                .iter()
                .enumerate()
                .map(|(i, t)| (t.clone(), i as u32))
                .collect::<Vocab>(),
            Vec::new(),
        )
        .unk_token(UNK.to_string())
        .build()
        .map_err(build_err)?;
    let mut tokenizer = Tokenizer::new(model);
    tokenizer.with_normalizer(Some(NFC)).map_err(build_err)?;
    let split = Split::new(
        SplitPattern::Regex(QWEN2_SPLIT_REGEX.into()),
        SplitDelimiterBehavior::Isolated,
        false,
    )
    .map_err(build_err)?;
    tokenizer.with_pre_tokenizer(Some(PreSequence::new(vec![
        split.into(),
        ByteLevel::new(false, false, false).into(),
    ])));
    tokenizer.with_decoder(Some(ByteLevel::new(false, false, false)));
    let bos_id = special_id(BOS).ok_or_else(|| build_err("no bos id"))?;
    let post = TemplateProcessing::builder()
        .try_single(format!("{BOS} $A"))
        .map_err(build_err)?
        .try_pair(format!("{BOS} $A $B:1"))
        .map_err(build_err)?
        .special_tokens(vec![(BOS, bos_id)])
        .build()
        .map_err(build_err)?;
    tokenizer.with_post_processor(Some(post));
    // Registered as added special tokens (with their vocabulary ids), so a literal "<eos>" in
    // text is one token and `decode(.., skip_special = true)` drops them.
    tokenizer
        .add_special_tokens(SPECIALS.iter().map(|s| AddedToken::from(*s, true)))
        .map_err(build_err)?;
    Ok(tokenizer)
}

/// The `tokenizer_config.json` that goes with [`build`]'s tokenizer.
pub fn tokenizer_config() -> Value {
    json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "unk_token": UNK,
        "add_bos_token": true,
        "add_eos_token": false,
        // Python would otherwise "clean up" spaces before punctuation when decoding.
        "clean_up_tokenization_spaces": false,
        "model_max_length": 2048,
        "padding_side": "left",
        "chat_template": CHAT_TEMPLATE,
    })
}

/// Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (created if needed).
/// `generation_config.json` (the eos id) is written with the weights by
/// `o1p_model::weights::save_pretrained`.
pub fn write(dir: &Path) -> Result<(), DemoTokenizerError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DemoTokenizerError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tokenizer = build()?;
    let mut json = tokenizer.to_string(true).map_err(build_err)?;
    json.push('\n');
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, json).map_err(io(&path))?;
    let mut config = serde_json::to_string_pretty(&tokenizer_config()).map_err(build_err)?;
    config.push('\n');
    let path = dir.join("tokenizer_config.json");
    std::fs::write(&path, config).map_err(io(&path))?;
    Ok(())
}
