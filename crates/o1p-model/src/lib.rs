//! Qwen2 / Llama decoders on Burn that read and write Hugging Face checkpoints.
//!
//! - [`ModelConfig`]: `config.json` resolved into the decoder's hyper-parameters.
//! - [`CausalLm`]: the decoder (GQA, rotate-half RoPE, SwiGLU, RMSNorm, tied or untied head),
//!   batched over padded sequences with explicit position ids, with a [`KvCache`].
//! - [`weights`]: single-file and sharded safetensors in, Hugging Face layout out.
//! - [`gguf`]: llama.cpp's GGUF files (F32 / F16 / BF16 / Q8_0 / Q4_0 / Q4_1 / Q4_K / Q6_K),
//!   dequantised onto the same decoder; [`load_pretrained`] takes a `.gguf` path too.
//! - [`Tokenizer`]: `tokenizer.json` plus the special tokens and chat template of
//!   `tokenizer_config.json` and the eos ids of `generation_config.json`.
//! - [`lora`]: LoRA adapters on Burn's reparameterization, in PEFT's file layout
//!   ([`LoraConfig`]).
//! - [`mixed`]: mixed-precision training (16-bit compute, f32 masters of trainable parameters).
//! - [`Pretrained`]: a model directory or `.gguf` file opened once (model, config,
//!   tokenizer, stop ids).
//! - [`Backend`]: the only place that names Burn backends (flex, wgpu, tch).
//!
//! ```
//! use burn::tensor::DType;
//! use o1p_model::{Backend, CausalLm, ModelConfig};
//!
//! let device = Backend::Flex.device().unwrap();
//! let config = ModelConfig::qwen2(32, 16, 32, 1, 2, 1);
//! let model = CausalLm::random(&config, 7, &device);
//! let dir = std::env::temp_dir().join("o1p-model-doctest");
//! o1p_model::weights::save_pretrained(&model, &config, &dir).unwrap();
//! let (reloaded, _) = o1p_model::load_pretrained(&dir, &device, DType::F32).unwrap();
//! assert_eq!(reloaded.num_layers(), 1);
//! ```
#![deny(missing_docs)]

mod cache;
mod config;
mod decoder;
mod device;
mod error;
pub mod gguf;
pub mod lora;
pub mod mixed;
mod precision;
mod pretrained;
mod rope;
mod tokenizer;
pub mod weights;

use std::path::Path;

use burn::tensor::{DType, Device};

pub use cache::{KvCache, LayerCache};
pub use config::{Architecture, Llama3RopeScaling, ModelConfig};
pub use decoder::{
    Attention, CausalLm, Decoder, DecoderLayer, LOGPROB_CHUNK_BYTES, Mlp, RmsNorm, token_logprobs,
};
pub use device::Backend;
pub use error::{ModelError, Result};
pub use lora::LoraConfig;
pub use precision::Precision;
pub use pretrained::Pretrained;
pub use rope::RopeFrequencies;
pub use tokenizer::{SpecialTokens, Tokenizer};

/// Loads `dir/config.json` and the safetensors weights of `dir`, cast to `dtype`; or, when
/// `dir` is a `.gguf` file, the model in it ([`gguf::load_gguf`]: config from the metadata,
/// weights dequantised).
pub fn load_pretrained(
    dir: impl AsRef<Path>,
    device: &Device,
    dtype: DType,
) -> Result<(CausalLm, ModelConfig)> {
    let dir = dir.as_ref();
    // Checked up front: a backend without the dtype would fail deep in a forward pass.
    if !device.supports_dtype(dtype) {
        return Err(ModelError::Backend {
            backend: format!("{device:?}"),
            problem: format!("no {dtype:?} tensors on this device (load in f32 instead)"),
        });
    }
    if is_gguf(dir) {
        return gguf::load_gguf(dir, device, dtype);
    }
    let config = ModelConfig::from_file(dir.join("config.json"))?;
    let mut checkpoint = weights::Checkpoint::open(dir)?;
    let model = weights::build_model(&config, &mut checkpoint, device, dtype)?;
    Ok((model, config))
}

/// Whether `path` names a GGUF file (by its `.gguf` extension) rather than a checkpoint
/// directory.
pub fn is_gguf(path: impl AsRef<Path>) -> bool {
    let path = path.as_ref();
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        && !path.is_dir()
}

impl CausalLm {
    /// A randomly initialised model (normal(0, 0.02) weights, seeded), in f32.
    pub fn random(config: &ModelConfig, seed: u64, device: &Device) -> Self {
        let mut init = weights::RandomInit::new(seed, 0.02);
        weights::build_model(config, &mut init, device, DType::F32)
            .expect("random initialisation cannot miss a tensor")
    }
}
