//! What the benchmarks share: the SmolLM2-135M model shape and the check for a Python with
//! torch + transformers to compare against.

use std::process::Command;

use anyhow::Result;
use o1p_model::ModelConfig;
use serde_json::json;

/// SmolLM2-135M's shape: Llama, 30 layers, width 576, 9 heads (3 KV), SwiGLU 1536,
/// vocab 49152, tied embeddings.
pub(crate) fn smollm2_config() -> Result<ModelConfig> {
    let raw = json!({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": 49152,
        "hidden_size": 576,
        "intermediate_size": 1536,
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_theta": 100000.0,
        "tie_word_embeddings": true,
        "hidden_act": "silu",
        "bos_token_id": 1,
        "eos_token_id": 2,
    });
    Ok(ModelConfig::from_json(raw, "<smollm2-135m-shape>")?)
}

/// Whether `python` imports torch and transformers (the reference side of a benchmark).
pub(crate) fn python_has_torch(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import transformers, torch"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs a benchmark's Python side (`cmd` calls `script`) and parses the JSON it prints.
pub(crate) fn run_python_json(
    cmd: &mut Command,
    script: &std::path::Path,
) -> Result<serde_json::Value> {
    use anyhow::{Context, bail};
    let out = cmd
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("parsing the script's JSON")
}
