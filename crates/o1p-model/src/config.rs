//! The decoder's hyper-parameters, read from (and written back to) a Hugging Face `config.json`.
//!
//! Qwen2 and Llama checkpoints describe the same decoder with a few switches: Qwen2 has biases on
//! the q/k/v projections, Llama-3 rescales its rotary frequencies, either may tie the output
//! projection to the embedding. [`ModelConfig`] resolves those switches once, so the decoder
//! code reads no JSON.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::{ModelError, Result};

/// Which Hugging Face architecture a checkpoint declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// `Qwen2ForCausalLM` (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen, QwQ, Marco-o1).
    Qwen2,
    /// `LlamaForCausalLM` (Llama 2 / 3, SmolLM2, DeepSeek-R1-Distill-Llama).
    Llama,
}

impl Architecture {
    /// The `architectures[0]` string of config.json.
    pub fn hf_class(self) -> &'static str {
        match self {
            Architecture::Qwen2 => "Qwen2ForCausalLM",
            Architecture::Llama => "LlamaForCausalLM",
        }
    }

    /// The `model_type` string of config.json.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Qwen2 => "qwen2",
            Architecture::Llama => "llama",
        }
    }
}

/// Llama-3's frequency-dependent rescaling of the rotary embedding (`rope_type: "llama3"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3RopeScaling {
    /// Overall stretch of the long wavelengths.
    pub factor: f64,
    /// Wavelengths longer than `original_max_position_embeddings / low_freq_factor` are stretched.
    pub low_freq_factor: f64,
    /// Wavelengths shorter than `original_max_position_embeddings / high_freq_factor` are kept.
    pub high_freq_factor: f64,
    /// The context length the model was pre-trained with.
    pub original_max_position_embeddings: usize,
}

/// A resolved decoder configuration.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The declared architecture.
    pub architecture: Architecture,
    /// Rows of the embedding and of the output projection.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than query heads).
    pub num_key_value_heads: usize,
    /// Width of one head (`hidden_size / num_attention_heads` unless config.json says otherwise).
    pub head_dim: usize,
    /// Longest position the rotary tables are built for.
    pub max_position_embeddings: usize,
    /// Epsilon of every RMSNorm.
    pub rms_norm_eps: f64,
    /// Base of the rotary frequencies.
    pub rope_theta: f64,
    /// Llama-3 rotary rescaling, if any.
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// The output projection is the embedding matrix (no `lm_head.weight` in the checkpoint).
    pub tie_word_embeddings: bool,
    /// Biases on q_proj, k_proj and v_proj (always for Qwen2; `attention_bias` for Llama).
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama with `attention_bias`; never for Qwen2).
    pub o_bias: bool,
    /// Biases on the MLP projections (Llama `mlp_bias`).
    pub mlp_bias: bool,
    /// Beginning-of-sequence token id, if declared.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token ids (config.json may give one or a list).
    pub eos_token_ids: Vec<u32>,
    /// The config.json as read, so that saving keeps fields this crate does not interpret.
    pub raw: Value,
}

impl ModelConfig {
    /// Reads `config.json` from a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let value: Value = serde_json::from_str(&text).map_err(|source| ModelError::Json {
            path: path.to_path_buf(),
            error: source,
        })?;
        Self::from_json(value, path)
    }

    /// Resolves a parsed config.json; `path` only names the source in errors.
    pub fn from_json(raw: Value, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let obj = raw
            .as_object()
            .ok_or_else(|| ModelError::config(&path, "<root>", "not a JSON object"))?;
        let fields = Fields { obj, path: &path };

        let architecture = architecture_of(obj, &path)?;
        let hidden_size = fields.usize("hidden_size")?;
        let num_attention_heads = fields.usize("num_attention_heads")?;
        let num_key_value_heads = fields
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_attention_heads == 0 || num_key_value_heads == 0 {
            return Err(ModelError::config(
                &path,
                "num_attention_heads",
                "must be > 0",
            ));
        }
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(ModelError::config(
                &path,
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} does not divide num_attention_heads {num_attention_heads}"
                ),
            ));
        }
        let head_dim = match fields.opt_usize("head_dim")? {
            Some(d) => d,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(ModelError::config(
                        &path,
                        "hidden_size",
                        "not divisible by num_attention_heads and no head_dim given",
                    ));
                }
                hidden_size / num_attention_heads
            }
        };
        if head_dim % 2 != 0 {
            return Err(ModelError::config(
                &path,
                "head_dim",
                "must be even for RoPE",
            ));
        }

        // transformers 5 moved rope_theta / rope_scaling into `rope_parameters`; older files
        // keep them at the top level. Accept both.
        let rope_params = obj.get("rope_parameters").and_then(Value::as_object);
        let rope_theta = match rope_params.and_then(|p| p.get("rope_theta")) {
            Some(v) => v.as_f64().ok_or_else(|| {
                ModelError::config(&path, "rope_parameters.rope_theta", "not a number")
            })?,
            None => fields.opt_f64("rope_theta")?.unwrap_or(10_000.0),
        };
        let scaling = rope_params
            .filter(|p| p.contains_key("rope_type") || p.contains_key("type"))
            .or_else(|| obj.get("rope_scaling").and_then(Value::as_object));
        let rope_scaling = match scaling {
            None => None,
            Some(s) => rope_scaling_of(s, &path)?,
        };

        let attention_bias = fields.opt_bool("attention_bias")?.unwrap_or(false);
        let (qkv_bias, o_bias) = match architecture {
            Architecture::Qwen2 => (true, false),
            Architecture::Llama => (attention_bias, attention_bias),
        };

        Ok(ModelConfig {
            architecture,
            vocab_size: fields.usize("vocab_size")?,
            hidden_size,
            intermediate_size: fields.usize("intermediate_size")?,
            num_hidden_layers: fields.usize("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            max_position_embeddings: fields.opt_usize("max_position_embeddings")?.unwrap_or(4096),
            rms_norm_eps: fields.opt_f64("rms_norm_eps")?.unwrap_or(1e-6),
            rope_theta,
            rope_scaling,
            tie_word_embeddings: fields.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias: fields.opt_bool("mlp_bias")?.unwrap_or(false),
            bos_token_id: fields.opt_usize("bos_token_id")?.map(|v| v as u32),
            eos_token_ids: token_ids(obj.get("eos_token_id"), &path, "eos_token_id")?,
            raw,
        })
    }

    /// A Qwen2 configuration built in code (for models trained from scratch, such as the demo).
    ///
    /// ```
    /// let cfg = o1p_model::ModelConfig::qwen2(64, 32, 64, 2, 4, 2);
    /// assert_eq!(cfg.head_dim, 8);
    /// assert!(cfg.qkv_bias);
    /// ```
    pub fn qwen2(
        vocab_size: usize,
        hidden_size: usize,
        intermediate_size: usize,
        num_hidden_layers: usize,
        num_attention_heads: usize,
        num_key_value_heads: usize,
    ) -> Self {
        let raw = json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "vocab_size": vocab_size,
            "hidden_size": hidden_size,
            "intermediate_size": intermediate_size,
            "num_hidden_layers": num_hidden_layers,
            "num_attention_heads": num_attention_heads,
            "num_key_value_heads": num_key_value_heads,
            "max_position_embeddings": 2048,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "tie_word_embeddings": true,
            "hidden_act": "silu",
            "attention_dropout": 0.0,
            "use_sliding_window": false,
        });
        Self::from_json(raw, "<memory>").expect("a well-formed built-in config")
    }

    /// Sets the token ids (bos, eos, pad) in the config and in its raw JSON.
    pub fn with_special_tokens(mut self, bos: Option<u32>, eos: &[u32], pad: Option<u32>) -> Self {
        self.bos_token_id = bos;
        self.eos_token_ids = eos.to_vec();
        if let Some(obj) = self.raw.as_object_mut() {
            obj.insert("bos_token_id".into(), json!(bos));
            let eos_value = match eos {
                [one] => json!(one),
                many => json!(many),
            };
            obj.insert("eos_token_id".into(), eos_value);
            obj.insert("pad_token_id".into(), json!(pad));
        }
        self
    }

    /// The config.json to write next to saved weights: the original JSON with `dtype` set.
    pub fn to_hf_json(&self, dtype: &str) -> Value {
        let mut raw = self.raw.clone();
        if let Some(obj) = raw.as_object_mut() {
            obj.insert("torch_dtype".into(), json!(dtype));
            obj.insert("dtype".into(), json!(dtype));
            obj.entry("architectures")
                .or_insert_with(|| json!([self.architecture.hf_class()]));
            obj.entry("model_type")
                .or_insert_with(|| json!(self.architecture.model_type()));
        }
        raw
    }

    /// Number of query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }
}

fn architecture_of(obj: &Map<String, Value>, path: &Path) -> Result<Architecture> {
    let declared = obj
        .get("architectures")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .or_else(|| obj.get("model_type").and_then(Value::as_str))
        .unwrap_or("<none>");
    match declared {
        "Qwen2ForCausalLM" | "qwen2" => Ok(Architecture::Qwen2),
        "LlamaForCausalLM" | "llama" => Ok(Architecture::Llama),
        other => Err(ModelError::UnsupportedArchitecture {
            path: path.to_path_buf(),
            architecture: other.to_string(),
        }),
    }
}

fn rope_scaling_of(s: &Map<String, Value>, path: &Path) -> Result<Option<Llama3RopeScaling>> {
    let kind = s
        .get("rope_type")
        .or_else(|| s.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    match kind {
        "default" => Ok(None),
        "llama3" => {
            let num = |key: &str| {
                s.get(key).and_then(Value::as_f64).ok_or_else(|| {
                    ModelError::config(
                        path,
                        format!("rope_scaling.{key}"),
                        "missing or not a number",
                    )
                })
            };
            Ok(Some(Llama3RopeScaling {
                factor: num("factor")?,
                low_freq_factor: num("low_freq_factor")?,
                high_freq_factor: num("high_freq_factor")?,
                original_max_position_embeddings: num("original_max_position_embeddings")? as usize,
            }))
        }
        other => Err(ModelError::config(
            path,
            "rope_scaling.rope_type",
            format!("`{other}` is not supported (supported: default, llama3)"),
        )),
    }
}

fn token_ids(value: Option<&Value>, path: &Path, field: &str) -> Result<Vec<u32>> {
    let bad = || ModelError::config(path, field, "not a token id or a list of token ids");
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Number(n)) => Ok(vec![n.as_u64().ok_or_else(bad)? as u32]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_u64().map(|n| n as u32).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

/// Typed access to config.json fields with errors that name the field.
struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: &'a Path,
}

impl Fields<'_> {
    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| ModelError::config(self.path, key, "missing"))
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| ModelError::config(self.path, key, "not a non-negative integer")),
        }
    }

    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| ModelError::config(self.path, key, "not a number")),
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        match self.obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| ModelError::config(self.path, key, "not a boolean")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_transformers5_rope_parameters_and_llama3_scaling() {
        let raw = json!({
            "architectures": ["LlamaForCausalLM"], "vocab_size": 10, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
            "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0,
                "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 8192},
            "eos_token_id": [1, 2]
        });
        let cfg = ModelConfig::from_json(raw, "c.json").unwrap();
        assert_eq!(cfg.rope_theta, 500000.0);
        assert_eq!(
            cfg.rope_scaling.unwrap().original_max_position_embeddings,
            8192
        );
        assert_eq!(cfg.eos_token_ids, vec![1, 2]);
        assert_eq!(cfg.num_key_value_heads, 2);
        assert!(!cfg.qkv_bias);
    }

    #[test]
    fn missing_field_names_file_and_field() {
        let raw = json!({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 8});
        let err = ModelConfig::from_json(raw, "dir/config.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dir/config.json"), "{err}");
        assert!(err.contains("num_attention_heads"), "{err}");
    }

    #[test]
    fn rejects_unknown_architecture() {
        let raw = json!({"architectures": ["GPT2LMHeadModel"]});
        let err = ModelConfig::from_json(raw, "c.json").unwrap_err();
        assert!(matches!(err, ModelError::UnsupportedArchitecture { .. }));
    }
}
