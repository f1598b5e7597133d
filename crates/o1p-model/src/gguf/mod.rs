//! GGUF, llama.cpp's single-file checkpoint format: the container, dequantisation, the mapping of
//! its tensors onto [`crate::CausalLm`], and the tokenizer and chat template kept in its metadata.
//!
//! - [`GgufFile`]: header, metadata and tensor-info table (v2 and v3), memory-mapped; a
//!   file truncated after the header still opens (only reading tensor data fails).
//! - [`GgmlType`] + [`dequantize`]: dequantisation of F32, F16, BF16, Q8_0, Q4_0, Q4_1,
//!   Q4_K and Q6_K blocks to f32.
//! - [`config_from_gguf`] and [`GgufWeights`]: `ModelConfig` from metadata and a `WeightSource` that renames
//!   llama.cpp tensors to Hugging Face names and undoes the Q/K row permutation.
//! - [`crate::Tokenizer::from_gguf`]: the gpt2-style byte-level BPE tokenizer and chat template.

mod file;
mod ggml_type;
mod quant;
mod tokenizer;
mod weights;

pub use file::{GgufFile, MetaValue, TensorInfo};
pub use ggml_type::GgmlType;
pub use quant::{DequantError, dequantize};
pub use weights::{
    GgufWeights, config_from_gguf, convert_to_hf, gguf_name, load_gguf, save_tokenizer_files,
};
