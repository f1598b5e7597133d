//! A model directory (or `.gguf` file) opened once: what every binary and library step needs
//! from "a model" (weights, config, tokenizer, stop ids), loaded by one rule.

use std::path::{Path, PathBuf};

use burn::tensor::{DType, Device};

use crate::{CausalLm, ModelConfig, ModelError, Result, Tokenizer, is_gguf, load_pretrained};

/// A pretrained model as a Hugging Face directory or a llama.cpp `.gguf` file holds it.
///
/// ```
/// use burn::tensor::DType;
/// use o1p_model::{Backend, CausalLm, ModelConfig, Pretrained};
/// let device = Backend::Flex.device().unwrap();
/// let config = ModelConfig::qwen2(32, 16, 32, 1, 2, 1);
/// let dir = std::env::temp_dir().join("o1p-pretrained-doctest");
/// o1p_model::weights::save_pretrained(&CausalLm::random(&config, 1, &device), &config, &dir)
///     .unwrap();
/// let opened = Pretrained::open(&dir, &device, DType::F32).unwrap();
/// assert!(opened.tokenizer.is_none()); // no tokenizer.json in that directory
/// assert_eq!(opened.stop_ids, opened.config.eos_token_ids);
/// assert!(opened.require_tokenizer().unwrap_err().to_string().contains("tokenizer.json"));
/// ```
#[derive(Debug)]
pub struct Pretrained {
    /// The decoder.
    pub model: CausalLm,
    /// Its config (config.json, or the GGUF metadata).
    pub config: ModelConfig,
    /// Its tokenizer, when the directory has a tokenizer.json (a GGUF file always has one).
    pub tokenizer: Option<Tokenizer>,
    /// The ids a response ends on: the tokenizer's (its eos token and the eos ids of
    /// generation_config.json and config.json), else config.json's eos ids.
    pub stop_ids: Vec<u32>,
    /// The directory or file it was opened from.
    pub source: PathBuf,
}

impl Pretrained {
    /// Opens `path` onto `device` with weights in `dtype` (see [`load_pretrained`]), with its
    /// tokenizer when it has one ([`Pretrained::tokenizer_of`]).
    pub fn open(path: impl AsRef<Path>, device: &Device, dtype: DType) -> Result<Self> {
        let path = path.as_ref();
        let (model, config) = load_pretrained(path, device, dtype)?;
        let tokenizer = Self::tokenizer_of(path)?;
        let stop_ids = match &tokenizer {
            Some(t) if !t.special().stop_ids.is_empty() => t.special().stop_ids.clone(),
            _ => config.eos_token_ids.clone(),
        };
        Ok(Pretrained {
            model,
            config,
            tokenizer,
            stop_ids,
            source: path.to_path_buf(),
        })
    }

    /// The tokenizer of a model directory or `.gguf` file without its weights: `None` for a
    /// directory without tokenizer.json (a model that only takes token ids), an error for
    /// one whose tokenizer files are broken.
    pub fn tokenizer_of(path: impl AsRef<Path>) -> Result<Option<Tokenizer>> {
        let path = path.as_ref();
        if is_gguf(path) || path.join("tokenizer.json").is_file() {
            Tokenizer::from_dir(path).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The tokenizer, or an error naming the missing file (for steps that read or write
    /// text).
    pub fn require_tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer
            .as_ref()
            .ok_or_else(|| self.missing_tokenizer())
    }

    /// Moves the tokenizer out, or an error naming the missing file.
    pub fn take_tokenizer(&mut self) -> Result<Tokenizer> {
        self.tokenizer
            .take()
            .ok_or_else(|| self.missing_tokenizer())
    }

    fn missing_tokenizer(&self) -> ModelError {
        ModelError::Tokenizer {
            path: self.source.join("tokenizer.json"),
            problem: "missing: this step needs the model's tokenizer".into(),
        }
    }
}
