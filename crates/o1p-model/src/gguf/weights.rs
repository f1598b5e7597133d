//! A GGUF file as a Hugging Face checkpoint: the [`ModelConfig`] its metadata describes, and a
//! [`WeightSource`] that serves its tensors under Hugging Face names and in Hugging Face layout.
//!
//! llama.cpp's converter (`convert_hf_to_gguf.py`) changes three things that must be undone:
//!
//! - **names**: `model.layers.N.self_attn.q_proj.weight` is `blk.N.attn_q.weight`, and so on
//!   (see [`gguf_name`]);
//! - **dimension order**: GGUF lists the innermost dimension first, so an `[out, in]` matrix is
//!   stored with dims `[in, out]` (the bytes are the same row-major matrix);
//! - **rotary layout** (Llama only): the rows of `q_proj` / `k_proj` (weights and biases) are
//!   permuted per head from the "rotate-half" order to llama.cpp's interleaved-pair order,
//!   `w.reshape(n_head, 2, head_dim / 2, in).swapaxes(1, 2)`. This decoder implements
//!   rotate-half, so the rows are put back on load. Qwen2 GGUFs are written unpermuted.
//!
//! Quantised tensors are dequantised to f32 (the `quant` module) and then cast to the requested
//! dtype by the model builder.

use std::path::Path;

use burn::tensor::{DType, Device, TensorData};
use serde_json::{Map, Value, json};

use super::{GgufFile, MetaValue, dequantize};
use crate::config::{Architecture, ModelConfig};
use crate::decoder::CausalLm;
use crate::error::{ModelError, Result};
use crate::tokenizer::Tokenizer;
use crate::weights::{TensorKind, WeightSource, build_model, write_atomic};

/// Loads a `.gguf` file: its config from the metadata and its weights dequantised and cast to
/// `dtype`. The returned config's `raw` JSON is a Hugging Face `config.json`, so the model can be
/// saved with [`crate::weights::save_pretrained`] and reloaded by transformers.
pub fn load_gguf(
    path: impl AsRef<Path>,
    device: &Device,
    dtype: DType,
) -> Result<(CausalLm, ModelConfig)> {
    let file = GgufFile::open(path)?;
    let config = config_from_gguf(&file)?;
    let mut weights = GgufWeights::new(file, &config);
    let model = build_model(&config, &mut weights, device, dtype)?;
    Ok((model, config))
}

/// Converts a GGUF checkpoint into a Hugging Face model directory that every tool of this
/// project (and transformers) reads: `config.json`, `generation_config.json` and
/// `model.safetensors` in `dtype` ([`crate::weights::save_pretrained`]), plus
/// `tokenizer.json` and `tokenizer_config.json` when a tokenizer is given
/// ([`save_tokenizer_files`]). Dequantisation happens once here instead of at every load.
pub fn convert_to_hf(
    gguf: impl AsRef<Path>,
    dir: impl AsRef<Path>,
    tokenizer: Option<&Tokenizer>,
    device: &Device,
    dtype: DType,
) -> Result<ModelConfig> {
    let (model, config) = load_gguf(gguf, device, dtype)?;
    crate::weights::save_pretrained(&model, &config, dir.as_ref())?;
    if let Some(tokenizer) = tokenizer {
        save_tokenizer_files(tokenizer, &config, dir)?;
    }
    Ok(config)
}

/// Writes `tokenizer.json` and a `tokenizer_config.json` (special-token strings, `add_bos_token`,
/// the chat template) into `dir`, so that [`Tokenizer::from_dir`] and transformers'
/// `AutoTokenizer` load the same tokenizer again.
pub fn save_tokenizer_files(
    tokenizer: &Tokenizer,
    config: &ModelConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let path = dir.join("tokenizer.json");
    let text = tokenizer
        .inner()
        .to_string(false)
        .map_err(|e| ModelError::Tokenizer {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    write_atomic(&path, text.as_bytes())?;
    let special = tokenizer.special();
    let text_of = |t: &Option<(u32, String)>| json!(t.as_ref().map(|(_, s)| s.clone()));
    let mut cfg = Map::new();
    cfg.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    cfg.insert("bos_token".into(), text_of(&special.bos));
    cfg.insert("eos_token".into(), text_of(&special.eos));
    cfg.insert("pad_token".into(), text_of(&special.pad));
    cfg.insert("add_bos_token".into(), json!(special.add_bos));
    cfg.insert("clean_up_tokenization_spaces".into(), json!(false));
    cfg.insert(
        "model_max_length".into(),
        json!(config.max_position_embeddings),
    );
    if let Some(template) = tokenizer.chat_template() {
        cfg.insert("chat_template".into(), json!(template));
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(cfg)).unwrap_or_default();
    bytes.push(b'\n');
    write_atomic(&dir.join("tokenizer_config.json"), &bytes)
}

/// The decoder configuration described by a GGUF file's metadata (`general.architecture`
/// `llama` or `qwen2`).
///
/// The vocabulary size is the row count of `token_embd.weight`; the head is tied when there is
/// no `output.weight`; Llama-3 rotary scaling is recovered from `rope_freqs.weight`; bos / eos /
/// pad ids come from the `tokenizer.ggml.*` keys.
pub fn config_from_gguf(file: &GgufFile) -> Result<ModelConfig> {
    let meta = Meta { file };
    let arch_name = meta.str("general.architecture")?;
    let architecture = match arch_name {
        "llama" => Architecture::Llama,
        "qwen2" => Architecture::Qwen2,
        other => {
            return Err(ModelError::UnsupportedArchitecture {
                path: file.path().to_path_buf(),
                architecture: format!(
                    "{other} (GGUF general.architecture; supported: llama, qwen2)"
                ),
            });
        }
    };
    let key = |k: &str| format!("{arch_name}.{k}");
    let hidden = meta.usize(&key("embedding_length"))?;
    let heads = meta.usize(&key("attention.head_count"))?;
    let kv_heads = match file.get(&key("attention.head_count_kv")) {
        None => heads,
        Some(MetaValue::Array(per_layer)) => uniform(per_layer).ok_or_else(|| {
            meta.error(
                &key("attention.head_count_kv"),
                "differs between layers (not supported)",
            )
        })?,
        Some(v) => v.as_u64().ok_or_else(|| {
            meta.error(
                &key("attention.head_count_kv"),
                "not a non-negative integer",
            )
        })? as usize,
    };
    if heads == 0 {
        return Err(meta.error(&key("attention.head_count"), "must be > 0"));
    }
    let head_dim = match meta.opt_usize(&key("attention.key_length"))? {
        Some(d) => d,
        None => hidden / heads,
    };
    if let Some(v) = meta.opt_usize(&key("attention.value_length"))?
        && v != head_dim
    {
        return Err(meta.error(
            &key("attention.value_length"),
            format!("{v} differs from the key length {head_dim} (not supported)"),
        ));
    }
    if let Some(r) = meta.opt_usize(&key("rope.dimension_count"))?
        && r != head_dim
    {
        return Err(meta.error(
            &key("rope.dimension_count"),
            format!("partial rotary embedding ({r} of {head_dim} dims) is not supported"),
        ));
    }
    if let Some(kind) = file
        .get(&key("rope.scaling.type"))
        .and_then(MetaValue::as_str)
        && kind != "none"
    {
        return Err(meta.error(
            &key("rope.scaling.type"),
            format!("`{kind}` rope scaling is not supported (supported: none, Llama-3 rope_freqs)"),
        ));
    }

    let embed = file
        .tensor("token_embd.weight")
        .ok_or_else(|| missing(file, "token_embd.weight", "model.embed_tokens.weight"))?;
    let vocab_size = match embed.dims.as_slice() {
        [h, v] if *h as usize == hidden => *v as usize,
        dims => {
            return Err(ModelError::TensorShape {
                path: file.path().to_path_buf(),
                tensor: "token_embd.weight".into(),
                found: dims.iter().rev().map(|&d| d as usize).collect(),
                expected: vec![0, hidden],
            });
        }
    };
    let context = meta.opt_usize(&key("context_length"))?.unwrap_or(4096);
    let rope_theta = meta.opt_f64(&key("rope.freq_base"))?.unwrap_or(10_000.0);

    let mut raw = Map::new();
    raw.insert("architectures".into(), json!([architecture.hf_class()]));
    raw.insert("model_type".into(), json!(architecture.model_type()));
    raw.insert("vocab_size".into(), json!(vocab_size));
    raw.insert("hidden_size".into(), json!(hidden));
    raw.insert(
        "intermediate_size".into(),
        json!(meta.usize(&key("feed_forward_length"))?),
    );
    raw.insert(
        "num_hidden_layers".into(),
        json!(meta.usize(&key("block_count"))?),
    );
    raw.insert("num_attention_heads".into(), json!(heads));
    raw.insert("num_key_value_heads".into(), json!(kv_heads));
    if architecture == Architecture::Llama || head_dim * heads != hidden {
        raw.insert("head_dim".into(), json!(head_dim));
    }
    raw.insert("max_position_embeddings".into(), json!(context));
    raw.insert(
        "rms_norm_eps".into(),
        json!(
            meta.opt_f64(&key("attention.layer_norm_rms_epsilon"))?
                .unwrap_or(1e-6)
        ),
    );
    raw.insert("rope_theta".into(), json!(rope_theta));
    let rope_scaling = match file.tensor("rope_freqs.weight") {
        None => Value::Null,
        Some(info) => {
            let bytes = file.tensor_bytes(info)?;
            let factors = dequantize(info.ggml_type, bytes, info.n_elements() as usize)
                .map_err(|e| meta.error("rope_freqs.weight", e.to_string()))?;
            let original = meta
                .opt_usize(&key("rope.scaling.original_context_length"))?
                .unwrap_or(context);
            llama3_scaling_from_factors(&factors, rope_theta, head_dim, original)
                .map_err(|problem| meta.error("rope_freqs.weight", problem))?
        }
    };
    raw.insert("rope_scaling".into(), rope_scaling);
    raw.insert(
        "tie_word_embeddings".into(),
        json!(file.tensor("output.weight").is_none()),
    );
    raw.insert("hidden_act".into(), json!("silu"));
    match architecture {
        Architecture::Llama => {
            let bias = file.tensor("blk.0.attn_q.bias").is_some();
            raw.insert("attention_bias".into(), json!(bias));
            let mlp_bias = file.tensor("blk.0.ffn_up.bias").is_some();
            raw.insert("mlp_bias".into(), json!(mlp_bias));
        }
        Architecture::Qwen2 => {
            raw.insert("use_sliding_window".into(), json!(false));
        }
    }
    let token = |k: &str| meta.opt_usize(&format!("tokenizer.ggml.{k}"));
    raw.insert("bos_token_id".into(), json!(token("bos_token_id")?));
    let mut eos: Vec<usize> = [token("eos_token_id")?, token("eot_token_id")?]
        .into_iter()
        .flatten()
        .collect();
    eos.dedup();
    raw.insert(
        "eos_token_id".into(),
        match eos.as_slice() {
            [] => Value::Null,
            [one] => json!(one),
            many => json!(many),
        },
    );
    raw.insert("pad_token_id".into(), json!(token("padding_token_id")?));
    ModelConfig::from_json(Value::Object(raw), file.path())
}

/// The tensors of a GGUF file under Hugging Face names (see the module docs for what is
/// undone on the way).
pub struct GgufWeights {
    file: GgufFile,
    /// Rows of q_proj / k_proj are permuted in the file (Llama) and must be put back.
    permuted_qk: bool,
    heads: usize,
    kv_heads: usize,
}

impl GgufWeights {
    /// Serves the tensors of `file` for a model of `config` (from [`config_from_gguf`]).
    pub fn new(file: GgufFile, config: &ModelConfig) -> Self {
        GgufWeights {
            file,
            permuted_qk: config.architecture == Architecture::Llama,
            heads: config.num_attention_heads,
            kv_heads: config.num_key_value_heads,
        }
    }

    /// The underlying file.
    pub fn file(&self) -> &GgufFile {
        &self.file
    }
}

impl WeightSource for GgufWeights {
    fn tensor(&mut self, name: &str, shape: &[usize], _kind: TensorKind) -> Result<TensorData> {
        let path = self.file.path();
        let gguf = gguf_name(name).ok_or_else(|| ModelError::MissingTensor {
            path: path.to_path_buf(),
            tensor: format!("{name} (no llama.cpp name for it)"),
        })?;
        let info = self
            .file
            .tensor(&gguf)
            .ok_or_else(|| missing(&self.file, &gguf, name))?;
        // GGUF dims run innermost first; Hugging Face shapes outermost first.
        let found: Vec<usize> = info.dims.iter().rev().map(|&d| d as usize).collect();
        if found != shape {
            return Err(ModelError::TensorShape {
                path: path.to_path_buf(),
                tensor: format!("{gguf} ({name})"),
                found,
                expected: shape.to_vec(),
            });
        }
        let bytes = self.file.tensor_bytes(info)?;
        let n: usize = shape.iter().product();
        let mut values = dequantize(info.ggml_type, bytes, n).map_err(|e| ModelError::Gguf {
            path: path.to_path_buf(),
            problem: format!("tensor `{gguf}` ({name}): {e}"),
        })?;
        if self.permuted_qk {
            let heads = if gguf.contains(".attn_q.") {
                Some(self.heads)
            } else if gguf.contains(".attn_k.") {
                Some(self.kv_heads)
            } else {
                None
            };
            if let Some(heads) = heads {
                values =
                    unpermute_rows(&values, shape[0], n / shape[0], heads).ok_or_else(|| {
                        ModelError::Gguf {
                            path: path.to_path_buf(),
                            problem: format!(
                                "tensor `{gguf}` ({name}): {} rows do not split into {heads} heads \
                             of an even width",
                                shape[0]
                            ),
                        }
                    })?;
            }
        }
        Ok(TensorData::new(values, shape.to_vec()))
    }
}

/// llama.cpp's name of a Hugging Face decoder tensor, or `None` for a name outside the decoder.
///
/// ```
/// use o1p_model::gguf::gguf_name;
/// assert_eq!(gguf_name("model.layers.3.self_attn.o_proj.weight").unwrap(), "blk.3.attn_output.weight");
/// assert_eq!(gguf_name("lm_head.weight").unwrap(), "output.weight");
/// assert_eq!(gguf_name("model.rotary_emb.inv_freq"), None);
/// ```
pub fn gguf_name(hf: &str) -> Option<String> {
    let (stem, suffix) = hf.rsplit_once('.')?;
    if !matches!(suffix, "weight" | "bias") {
        return None;
    }
    let base = match stem {
        "model.embed_tokens" => "token_embd".to_string(),
        "model.norm" => "output_norm".to_string(),
        "lm_head" => "output".to_string(),
        _ => {
            let rest = stem.strip_prefix("model.layers.")?;
            let (layer, module) = rest.split_once('.')?;
            layer.parse::<usize>().ok()?;
            let short = match module {
                "self_attn.q_proj" => "attn_q",
                "self_attn.k_proj" => "attn_k",
                "self_attn.v_proj" => "attn_v",
                "self_attn.o_proj" => "attn_output",
                "mlp.gate_proj" => "ffn_gate",
                "mlp.up_proj" => "ffn_up",
                "mlp.down_proj" => "ffn_down",
                "input_layernorm" => "attn_norm",
                "post_attention_layernorm" => "ffn_norm",
                _ => return None,
            };
            format!("blk.{layer}.{short}")
        }
    };
    Some(format!("{base}.{suffix}"))
}

/// Undoes llama.cpp's per-head row permutation of a `[rows, cols]` matrix (or a bias, `cols`
/// = 1): within each head of `rows / heads` rows, file row `2 j + t` is Hugging Face row
/// `t * head_dim / 2 + j`. That is `w.reshape(heads, head_dim / 2, 2, cols).swapaxes(1, 2)`.
/// `None` when the rows do not split into heads of an even width.
fn unpermute_rows(values: &[f32], rows: usize, cols: usize, heads: usize) -> Option<Vec<f32>> {
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return None;
    }
    let head_dim = rows / heads;
    let half = head_dim / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for t in 0..2 {
            for j in 0..half {
                let to = h * head_dim + t * half + j;
                let from = h * head_dim + 2 * j + t;
                out[to * cols..(to + 1) * cols]
                    .copy_from_slice(&values[from * cols..(from + 1) * cols]);
            }
        }
    }
    Some(out)
}

/// Recovers Llama-3 rotary scaling (transformers' `rope_type: "llama3"`) from the per-frequency
/// divisors llama.cpp stores in `rope_freqs.weight` (its converter writes no scaling metadata
/// for Llama-3).
///
/// Frequency `i` is divided by `r_i`: 1 for short wavelengths, `factor` for long ones, and
/// `1 / ((1 - s) / factor + s)` in between, where the smoothing `s = a x - b` is linear in
/// `x = 1 / wavelength` with `a = original / (high - low)` and `b = low / (high - low)`. The band
/// (`a`, `b`) is fitted to the divisors; `original` is any context length (the scaled
/// frequencies do not depend on it once `a` and `b` are fixed), so the file's is used. The
/// result is checked by recomputing every divisor.
fn llama3_scaling_from_factors(
    factors: &[f32],
    theta: f64,
    head_dim: usize,
    original: usize,
) -> std::result::Result<Value, String> {
    if factors.len() * 2 != head_dim {
        return Err(format!(
            "{} values, expected head_dim / 2 = {}",
            factors.len(),
            head_dim / 2
        ));
    }
    let r: Vec<f64> = factors.iter().map(|&f| f64::from(f)).collect();
    if r.iter().any(|&f| !(f.is_finite() && f >= 1.0 - 1e-6)) {
        return Err("divisors must be finite and >= 1 (not a Llama-3 scaling)".into());
    }
    let factor = r.iter().copied().fold(1.0, f64::max);
    if factor <= 1.0 + 1e-6 {
        return Ok(Value::Null);
    }
    // x = 1 / wavelength, decreasing with i.
    let x: Vec<f64> = (0..head_dim / 2)
        .map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64) / (2.0 * std::f64::consts::PI))
        .collect();
    let smooth = |r: f64| (1.0 / r - 1.0 / factor) / (1.0 - 1.0 / factor);
    let tol = 1e-5;
    // Class 0: kept (r = 1), 1: smoothed, 2: divided by factor. Llama-3 orders them by
    // wavelength.
    let class: Vec<u8> = r
        .iter()
        .map(|&f| {
            if f <= 1.0 + tol {
                0
            } else if f >= factor * (1.0 - tol) {
                2
            } else {
                1
            }
        })
        .collect();
    if class.windows(2).any(|w| w[0] > w[1]) {
        return Err("divisors are not ordered by wavelength (not a Llama-3 scaling)".into());
    }
    let mid: Vec<(f64, f64)> = (0..r.len())
        .filter(|&i| class[i] == 1)
        .map(|i| (x[i], smooth(r[i])))
        .collect();
    let last_kept = (0..r.len()).rfind(|&i| class[i] == 0).map(|i| (x[i], 1.0));
    let first_divided = (0..r.len()).find(|&i| class[i] == 2).map(|i| (x[i], 0.0));
    // Two points of the line s(x): two smoothed frequencies when there are, else the band's
    // neighbours (where s is 1 or 0, which the HF formula maps to the same divisor).
    let anchors = match (mid.as_slice(), last_kept, first_divided) {
        ([first, .., last], _, _) => (*first, *last),
        ([m], _, Some(d)) => (*m, d),
        ([m], Some(k), None) => (k, *m),
        ([], Some(k), Some(d)) => (k, d),
        ([], None, Some((xd, _))) => ((2.0 * xd, 1.0), (xd, 0.0)),
        _ => return Err("cannot place the smoothing band".into()),
    };
    let ((x1, s1), (x2, s2)) = anchors;
    let a = (s1 - s2) / (x1 - x2);
    let b = a * x1 - s1;
    if !(a > 0.0 && b > 0.0) {
        return Err("the smoothing band does not increase with frequency".into());
    }
    let original_f = original as f64;
    let low = b * original_f / a;
    let high = low + original_f / a;
    // Check: transformers' formula with these parameters gives back every divisor.
    for (i, (&xi, &ri)) in x.iter().zip(&r).enumerate() {
        let wavelen = 1.0 / xi;
        let (low_wavelen, high_wavelen) = (original_f / low, original_f / high);
        let expected = if wavelen < high_wavelen {
            1.0
        } else if wavelen > low_wavelen {
            factor
        } else {
            let s = (original_f / wavelen - low) / (high - low);
            1.0 / ((1.0 - s) / factor + s)
        };
        if (expected - ri).abs() > 1e-4 * ri {
            return Err(format!(
                "divisor {i} is {ri}, a Llama-3 scaling fitted to the others gives {expected}"
            ));
        }
    }
    Ok(json!({
        "rope_type": "llama3",
        "factor": factor,
        "low_freq_factor": low,
        "high_freq_factor": high,
        "original_max_position_embeddings": original,
    }))
}

/// The one value of a per-layer array when all layers agree.
fn uniform(items: &[MetaValue]) -> Option<usize> {
    let first = items.first()?.as_u64()?;
    items
        .iter()
        .all(|v| v.as_u64() == Some(first))
        .then_some(first as usize)
}

fn missing(file: &GgufFile, gguf: &str, hf: &str) -> ModelError {
    ModelError::MissingTensor {
        path: file.path().to_path_buf(),
        tensor: format!("{gguf} ({hf})"),
    }
}

/// Typed access to metadata with errors that name the file and key.
struct Meta<'a> {
    file: &'a GgufFile,
}

impl Meta<'_> {
    fn error(&self, key: &str, problem: impl std::fmt::Display) -> ModelError {
        ModelError::Gguf {
            path: self.file.path().to_path_buf(),
            problem: format!("`{key}`: {problem}"),
        }
    }

    fn str(&self, key: &str) -> Result<&str> {
        match self.file.get(key) {
            None => Err(self.error(key, "missing")),
            Some(v) => v.as_str().ok_or_else(|| self.error(key, "not a string")),
        }
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| self.error(key, "missing"))
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        match self.file.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| self.error(key, "not a non-negative integer")),
        }
    }

    /// A float; an f32 is widened through its shortest decimal form, so that the 1e-5 stored
    /// as f32 becomes 1e-5 in config.json, not 9.999999747378752e-6.
    fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        match self.file.get(key) {
            None => Ok(None),
            Some(MetaValue::F32(v)) => Ok(Some(v.to_string().parse().unwrap_or(f64::from(*v)))),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.error(key, "not a number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, hd/2, cols).swapaxes(1, 2).reshape(rows, cols).
        let (heads, hd, cols) = (3, 4, 2);
        let rows = heads * hd;
        let hf: Vec<f32> = (0..rows * cols).map(|v| v as f32).collect();
        let mut permuted = vec![0f32; hf.len()];
        for h in 0..heads {
            for t in 0..2 {
                for j in 0..hd / 2 {
                    let src = h * hd + t * (hd / 2) + j;
                    let dst = h * hd + j * 2 + t;
                    permuted[dst * cols..(dst + 1) * cols]
                        .copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_ne!(permuted, hf);
        assert_eq!(unpermute_rows(&permuted, rows, cols, heads).unwrap(), hf);
        assert!(unpermute_rows(&permuted, rows, cols, 5).is_none());
    }

    #[test]
    fn names_follow_llama_cpp() {
        for (hf, gguf) in [
            ("model.embed_tokens.weight", "token_embd.weight"),
            ("model.norm.weight", "output_norm.weight"),
            ("model.layers.0.self_attn.q_proj.bias", "blk.0.attn_q.bias"),
            (
                "model.layers.12.self_attn.k_proj.weight",
                "blk.12.attn_k.weight",
            ),
            (
                "model.layers.1.self_attn.v_proj.weight",
                "blk.1.attn_v.weight",
            ),
            (
                "model.layers.1.mlp.gate_proj.weight",
                "blk.1.ffn_gate.weight",
            ),
            ("model.layers.1.mlp.up_proj.weight", "blk.1.ffn_up.weight"),
            (
                "model.layers.1.mlp.down_proj.weight",
                "blk.1.ffn_down.weight",
            ),
            (
                "model.layers.2.input_layernorm.weight",
                "blk.2.attn_norm.weight",
            ),
            (
                "model.layers.2.post_attention_layernorm.weight",
                "blk.2.ffn_norm.weight",
            ),
        ] {
            assert_eq!(gguf_name(hf).as_deref(), Some(gguf), "{hf}");
        }
        assert_eq!(gguf_name("model.layers.x.mlp.up_proj.weight"), None);
    }

    /// llama.cpp's converter: the divisors of Llama 3.1 (factor 8, low 1, high 4, original
    /// 8192, theta 500000, head_dim 128), computed as in `generate_extra_tensors`.
    fn llama31_factors(head_dim: usize, theta: f64, original: f64) -> Vec<f32> {
        let (factor, low, high) = (8.0, 1.0, 4.0);
        (0..head_dim / 2)
            .map(|i| {
                let freq = 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64);
                let wavelen = 2.0 * std::f64::consts::PI / freq;
                if wavelen < original / high {
                    1.0
                } else if wavelen > original / low {
                    factor as f32
                } else {
                    let s = (original / wavelen - low) / (high - low);
                    (1.0 / ((1.0 - s) / factor + s)) as f32
                }
            })
            .collect()
    }

    #[test]
    fn llama3_scaling_is_recovered_from_rope_freqs() {
        let factors = llama31_factors(128, 500_000.0, 8192.0);
        let v = llama3_scaling_from_factors(&factors, 500_000.0, 128, 8192).unwrap();
        assert_eq!(v["factor"], 8.0);
        let low = v["low_freq_factor"].as_f64().unwrap();
        let high = v["high_freq_factor"].as_f64().unwrap();
        assert!((low - 1.0).abs() < 1e-4 && (high - 4.0).abs() < 1e-3, "{v}");
        // Another original context gives an equivalent band (the check inside passes).
        assert!(llama3_scaling_from_factors(&factors, 500_000.0, 128, 131_072).is_ok());
        // All ones: no scaling.
        let ones = vec![1.0f32; 64];
        assert!(
            llama3_scaling_from_factors(&ones, 500_000.0, 128, 8192)
                .unwrap()
                .is_null()
        );
        // Divisors out of wavelength order are not Llama-3.
        let mut bad = factors.clone();
        bad.swap(0, 63);
        assert!(llama3_scaling_from_factors(&bad, 500_000.0, 128, 8192).is_err());
    }
}
