//! Hugging Face checkpoints: loading (single-file and sharded safetensors, f32 / f16 / bf16 cast
//! to a chosen dtype), random initialisation, and saving in the layout transformers loads.
//!
//! The decoder is built directly from a [`WeightSource`] (like candle's `VarBuilder`): no
//! throw-away random init before loading, and every missing or mis-shaped tensor is reported by
//! its checkpoint name.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::module::{Param, ParamId};
use burn::nn::{Embedding, Linear};
use burn::tensor::{DType, Device, Tensor, TensorData};
use memmap2::Mmap;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::{Dtype, SafeTensors, tensor::Metadata};
use serde_json::Value;

use crate::config::ModelConfig;
use crate::decoder::{Attention, CausalLm, Decoder, DecoderLayer, Mlp, RmsNorm};
use crate::error::{ModelError, Result};
use crate::rope::RopeFrequencies;

/// Where the decoder's tensors come from.
pub trait WeightSource {
    /// The tensor `name` in Hugging Face layout (a linear weight is `[out, in]`), with the
    /// given shape. `kind` says how a random source should initialise it.
    fn tensor(&mut self, name: &str, shape: &[usize], kind: TensorKind) -> Result<TensorData>;
}

/// The role of a tensor, which decides its random initialisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TensorKind {
    /// Linear or embedding weight: normal(0, std).
    Weight,
    /// Bias: zeros.
    Bias,
    /// Norm gain: ones.
    NormGain,
}

/// Normal(0, std) weights, zero biases and unit norm gains from a seeded ChaCha8 stream, so a
/// model trained from scratch is reproducible on every platform.
pub struct RandomInit {
    rng: ChaCha8Rng,
    std: f32,
}

impl RandomInit {
    /// A seeded source with the given weight standard deviation (transformers uses 0.02).
    pub fn new(seed: u64, std: f32) -> Self {
        RandomInit {
            rng: ChaCha8Rng::seed_from_u64(seed),
            std,
        }
    }
}

impl WeightSource for RandomInit {
    fn tensor(&mut self, _name: &str, shape: &[usize], kind: TensorKind) -> Result<TensorData> {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = match kind {
            TensorKind::Bias => vec![0.0; n],
            TensorKind::NormGain => vec![1.0; n],
            TensorKind::Weight => (0..n)
                .map(|_| {
                    // Box-Muller: two uniforms give one standard normal.
                    let u1: f32 = self.rng.random::<f32>().max(f32::MIN_POSITIVE);
                    let u2: f32 = self.rng.random();
                    self.std * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
                })
                .collect(),
        };
        Ok(TensorData::new(values, shape.to_vec()))
    }
}

/// The safetensors files of a checkpoint, memory-mapped, with an index from tensor name to file.
pub struct Checkpoint {
    dir: PathBuf,
    files: Vec<MappedFile>,
    index: HashMap<String, usize>,
}

struct MappedFile {
    path: PathBuf,
    mmap: Mmap,
    data_start: usize,
    metadata: Metadata,
}

impl Checkpoint {
    /// Opens `dir/model.safetensors`, or the shards listed in `dir/model.safetensors.index.json`,
    /// or a single `.safetensors` file given directly.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (dir, files) = if path.is_file() {
            let dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
            (dir, vec![path.to_path_buf()])
        } else if path.join("model.safetensors").is_file() {
            (path.to_path_buf(), vec![path.join("model.safetensors")])
        } else if path.join("model.safetensors.index.json").is_file() {
            (
                path.to_path_buf(),
                shard_files(&path.join("model.safetensors.index.json"))?,
            )
        } else {
            return Err(ModelError::MissingTensor {
                path: path.to_path_buf(),
                tensor: "<any: no model.safetensors or model.safetensors.index.json>".into(),
            });
        };
        let mut mapped = Vec::with_capacity(files.len());
        let mut index = HashMap::new();
        for (i, file) in files.into_iter().enumerate() {
            let handle = File::open(&file).map_err(|e| ModelError::io(&file, e))?;
            // SAFETY: the file is opened read-only and the map lives as long as `Checkpoint`;
            // a checkpoint rewritten while we read it is outside what any loader can guard.
            let mmap = unsafe { Mmap::map(&handle) }.map_err(|e| ModelError::io(&file, e))?;
            let (header_len, metadata) =
                SafeTensors::read_metadata(&mmap).map_err(|e| ModelError::Safetensors {
                    path: file.clone(),
                    problem: e.to_string(),
                })?;
            for name in metadata.tensors().keys() {
                index.insert(name.clone(), i);
            }
            mapped.push(MappedFile {
                path: file,
                mmap,
                data_start: 8 + header_len,
                metadata,
            });
        }
        Ok(Checkpoint {
            dir,
            files: mapped,
            index,
        })
    }

    /// Whether the checkpoint holds a tensor of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Names of all tensors in the checkpoint.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }
}

impl WeightSource for Checkpoint {
    fn tensor(&mut self, name: &str, shape: &[usize], _kind: TensorKind) -> Result<TensorData> {
        let file = self
            .index
            .get(name)
            .map(|&i| &self.files[i])
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.dir.clone(),
                tensor: name.to_string(),
            })?;
        let info = file
            .metadata
            .info(name)
            .ok_or_else(|| ModelError::MissingTensor {
                path: file.path.clone(),
                tensor: name.to_string(),
            })?;
        if info.shape != shape {
            return Err(ModelError::TensorShape {
                path: file.path.clone(),
                tensor: name.to_string(),
                found: info.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        let dtype = match info.dtype {
            Dtype::F32 => DType::F32,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(ModelError::TensorDtype {
                    path: file.path.clone(),
                    tensor: name.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        let (start, end) = info.data_offsets;
        let bytes = file
            .mmap
            .get(file.data_start + start..file.data_start + end)
            .ok_or_else(|| ModelError::Safetensors {
                path: file.path.clone(),
                problem: format!("tensor `{name}` lies beyond the end of the file"),
            })?;
        TensorData::try_from_bytes_vec(bytes.to_vec(), shape.to_vec(), dtype).map_err(|e| {
            ModelError::Safetensors {
                path: file.path.clone(),
                problem: format!("tensor `{name}`: {e}"),
            }
        })
    }
}

fn shard_files(index_path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read_to_string(index_path).map_err(|e| ModelError::io(index_path, e))?;
    let json: Value = serde_json::from_str(&text).map_err(|source| ModelError::Json {
        path: index_path.to_path_buf(),
        error: source,
    })?;
    let map = json
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| ModelError::config(index_path, "weight_map", "missing or not an object"))?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = map
        .values()
        .filter_map(Value::as_str)
        .map(|f| dir.join(f))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Builds a [`CausalLm`] from any weight source, with parameters in `dtype` on `device`.
pub fn build_model(
    config: &ModelConfig,
    source: &mut dyn WeightSource,
    device: &Device,
    dtype: DType,
) -> Result<CausalLm> {
    let mut b = Builder {
        source,
        device,
        dtype,
    };
    let c = config;
    let (h, d) = (c.hidden_size, c.head_dim);
    let embed_tokens = Embedding {
        weight: b.param2(
            "model.embed_tokens.weight",
            [c.vocab_size, h],
            false,
            TensorKind::Weight,
        )?,
    };
    let mut layers = Vec::with_capacity(c.num_hidden_layers);
    for i in 0..c.num_hidden_layers {
        let p = format!("model.layers.{i}");
        let self_attn = Attention {
            q_proj: b.linear(
                &format!("{p}.self_attn.q_proj"),
                h,
                c.num_attention_heads * d,
                c.qkv_bias,
            )?,
            k_proj: b.linear(
                &format!("{p}.self_attn.k_proj"),
                h,
                c.num_key_value_heads * d,
                c.qkv_bias,
            )?,
            v_proj: b.linear(
                &format!("{p}.self_attn.v_proj"),
                h,
                c.num_key_value_heads * d,
                c.qkv_bias,
            )?,
            o_proj: b.linear(
                &format!("{p}.self_attn.o_proj"),
                c.num_attention_heads * d,
                h,
                c.o_bias,
            )?,
            num_heads: c.num_attention_heads,
            num_kv_heads: c.num_key_value_heads,
            head_dim: d,
            adapter_dropout: 0.0,
        };
        let mlp = Mlp {
            gate_proj: b.linear(
                &format!("{p}.mlp.gate_proj"),
                h,
                c.intermediate_size,
                c.mlp_bias,
            )?,
            up_proj: b.linear(
                &format!("{p}.mlp.up_proj"),
                h,
                c.intermediate_size,
                c.mlp_bias,
            )?,
            down_proj: b.linear(
                &format!("{p}.mlp.down_proj"),
                c.intermediate_size,
                h,
                c.mlp_bias,
            )?,
            adapter_dropout: 0.0,
        };
        layers.push(DecoderLayer {
            self_attn,
            mlp,
            input_layernorm: b.norm(&format!("{p}.input_layernorm"), h, c.rms_norm_eps)?,
            post_attention_layernorm: b.norm(
                &format!("{p}.post_attention_layernorm"),
                h,
                c.rms_norm_eps,
            )?,
        });
    }
    let norm = b.norm("model.norm", h, c.rms_norm_eps)?;
    let lm_head = if c.tie_word_embeddings {
        None
    } else {
        Some(b.linear("lm_head", h, c.vocab_size, false)?)
    };
    Ok(CausalLm {
        model: Decoder {
            embed_tokens,
            layers,
            norm,
        },
        lm_head,
        rope: RopeFrequencies::new(config),
    })
}

struct Builder<'a> {
    source: &'a mut dyn WeightSource,
    device: &'a Device,
    dtype: DType,
}

impl Builder<'_> {
    fn data(&mut self, name: &str, shape: &[usize], kind: TensorKind) -> Result<TensorData> {
        let data = self.source.tensor(name, shape, kind)?;
        Ok(if data.dtype() == self.dtype {
            data
        } else {
            data.convert_dtype(self.dtype)
        })
    }

    /// A rank-2 parameter; `transpose` turns HF's `[out, in]` into Burn's `[in, out]` once, on
    /// the host, so the forward pass multiplies by a contiguous matrix.
    fn param2(
        &mut self,
        name: &str,
        shape: [usize; 2],
        transpose: bool,
        kind: TensorKind,
    ) -> Result<Param<Tensor<2>>> {
        let data = self.data(name, &shape, kind)?;
        let data = if transpose {
            transpose_data(data)
        } else {
            data
        };
        Ok(named_param(
            name,
            Tensor::from_data(data, (self.device, self.dtype)),
        ))
    }

    fn param1(&mut self, name: &str, len: usize, kind: TensorKind) -> Result<Param<Tensor<1>>> {
        let data = self.data(name, &[len], kind)?;
        Ok(named_param(
            name,
            Tensor::from_data(data, (self.device, self.dtype)),
        ))
    }

    fn linear(&mut self, prefix: &str, d_in: usize, d_out: usize, bias: bool) -> Result<Linear> {
        let weight = self.param2(
            &format!("{prefix}.weight"),
            [d_out, d_in],
            true,
            TensorKind::Weight,
        )?;
        let bias = if bias {
            Some(self.param1(&format!("{prefix}.bias"), d_out, TensorKind::Bias)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    fn norm(&mut self, prefix: &str, len: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm {
            weight: self.param1(&format!("{prefix}.weight"), len, TensorKind::NormGain)?,
            eps,
        })
    }
}

/// A trainable parameter whose id is a hash of its checkpoint name.
///
/// Burn's optimizers key their state by parameter id. Deriving the id from the name (instead of
/// a random id per load) means a model reloaded from a checkpoint matches the optimizer state
/// saved beside it, which is what makes training resumable from Hugging Face files.
fn named_param<const D: usize>(name: &str, tensor: Tensor<D>) -> Param<Tensor<D>> {
    let mut param = Param::from_tensor(tensor);
    param.id = ParamId::from(param_id_of(name));
    param
}

/// FNV-1a of the tensor name: stable across runs, platforms and Rust versions.
pub fn param_id_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Transposes a rank-2 tensor's data on the host, whatever its element width.
pub(crate) fn transpose_data(data: TensorData) -> TensorData {
    let [rows, cols] = [data.shape()[0], data.shape()[1]];
    let dtype = data.dtype();
    let width = dtype.size();
    let src = data.as_bytes();
    let mut out = vec![0u8; src.len()];
    for r in 0..rows {
        for c in 0..cols {
            let from = (r * cols + c) * width;
            let to = (c * rows + r) * width;
            out[to..to + width].copy_from_slice(&src[from..from + width]);
        }
    }
    TensorData::from_bytes_vec(out, vec![cols, rows], dtype)
}

/// Every parameter of the model under its Hugging Face name and in Hugging Face layout, as the
/// forward pass sees it (a LoRA adapter merged in, a mixed-precision master in its 16-bit
/// compute dtype).
pub fn named_tensors(model: &CausalLm) -> BTreeMap<String, TensorData> {
    named_values(model, false)
}

/// [`named_tensors`] with each parameter's stored value instead: a mixed-precision master in
/// f32, a LoRA base without its adapter.
pub fn named_stored_tensors(model: &CausalLm) -> BTreeMap<String, TensorData> {
    named_values(model, true)
}

fn named_values(model: &CausalLm, stored: bool) -> BTreeMap<String, TensorData> {
    entries(model, stored, None)
        .into_iter()
        .map(|e| {
            let data = (e.read)();
            (e.name, data)
        })
        .collect()
}

/// Every linear layer of the decoder layers with its Hugging Face module name
/// (`model.layers.3.self_attn.q_proj`), in layer order.
pub(crate) fn linear_layers(model: &CausalLm) -> Vec<(String, &Linear)> {
    let mut out = Vec::new();
    for (i, layer) in model.model.layers.iter().enumerate() {
        let (a, m) = (&layer.self_attn, &layer.mlp);
        for (target, linear) in [
            ("self_attn.q_proj", &a.q_proj),
            ("self_attn.k_proj", &a.k_proj),
            ("self_attn.v_proj", &a.v_proj),
            ("self_attn.o_proj", &a.o_proj),
            ("mlp.gate_proj", &m.gate_proj),
            ("mlp.up_proj", &m.up_proj),
            ("mlp.down_proj", &m.down_proj),
        ] {
            out.push((format!("model.layers.{i}.{target}"), linear));
        }
    }
    out
}

/// One tensor of a checkpoint being written: its name, shape and dtype up front (the file's
/// header needs them), its host copy made by `read` only when the writer reaches it.
struct Entry<'a> {
    name: String,
    shape: Vec<usize>,
    dtype: DType,
    read: Box<dyn FnOnce() -> TensorData + 'a>,
}

impl Entry<'_> {
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * self.dtype.size()
    }
}

/// Every parameter of `model` as an [`Entry`] under its Hugging Face name and layout: the
/// stored value or the effective one (`stored`), converted to `dtype` when given.
fn entries(model: &CausalLm, stored: bool, dtype: Option<DType>) -> Vec<Entry<'_>> {
    fn entry<'a, const D: usize>(
        name: String,
        p: &'a Param<Tensor<D>>,
        stored: bool,
        dtype: Option<DType>,
    ) -> Entry<'a> {
        let mut shape = p.dims().to_vec();
        // Burn keeps a linear weight as [in, out]; Hugging Face as [out, in].
        let transpose = D == 2 && !name.ends_with("embed_tokens.weight");
        if transpose {
            shape.reverse();
        }
        let read = move || {
            let value = if stored { p.base() } else { p.val() };
            let data = value.into_data();
            let data = if transpose {
                transpose_data(data)
            } else {
                data
            };
            match dtype {
                Some(dtype) if data.dtype() != dtype => data.convert_dtype(dtype),
                _ => data,
            }
        };
        // Known without materialising the value: the target, or the tensor's own.
        let dtype = dtype.unwrap_or_else(|| {
            if stored {
                p.base().dtype()
            } else {
                effective_dtype(p)
            }
        });
        Entry {
            name,
            shape,
            dtype,
            read: Box::new(read),
        }
    }
    let mut out = Vec::new();
    out.push(entry(
        "model.embed_tokens.weight".into(),
        &model.model.embed_tokens.weight,
        stored,
        dtype,
    ));
    for (module, l) in linear_layers(model) {
        out.push(entry(format!("{module}.weight"), &l.weight, stored, dtype));
        if let Some(b) = &l.bias {
            out.push(entry(format!("{module}.bias"), b, stored, dtype));
        }
    }
    for (i, layer) in model.model.layers.iter().enumerate() {
        for (name, norm) in [
            ("input_layernorm", &layer.input_layernorm),
            ("post_attention_layernorm", &layer.post_attention_layernorm),
        ] {
            let name = format!("model.layers.{i}.{name}.weight");
            out.push(entry(name, &norm.weight, stored, dtype));
        }
    }
    out.push(entry(
        "model.norm.weight".into(),
        &model.model.norm.weight,
        stored,
        dtype,
    ));
    if let Some(head) = &model.lm_head {
        out.push(entry("lm_head.weight".into(), &head.weight, stored, dtype));
        if let Some(b) = &head.bias {
            out.push(entry("lm_head.bias".into(), b, stored, dtype));
        }
    }
    out
}

/// Writes `config.json`, `generation_config.json` and `model.safetensors` into `dir` so that
/// transformers' `AutoModelForCausalLM.from_pretrained(dir)` loads it. Each file is written to a
/// temporary name and renamed, so a crash never leaves a half-written checkpoint behind.
pub fn save_pretrained(
    model: &CausalLm,
    config: &ModelConfig,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    // One dtype for the whole file, the embedding's: a LoRA-adapted layer under mixed
    // precision comes out of the merge in its factors' f32 among 16-bit weights.
    let dtype = effective_dtype(&model.model.embed_tokens.weight);
    write_pretrained(entries(model, false, Some(dtype)), dtype, config, dir)
}

/// Writes the model's stored values ([`named_stored_tensors`]: f32 masters of a
/// mixed-precision model beside its 16-bit frozen weights) in the layout of
/// [`save_pretrained`], for a training checkpoint that resumes exactly; `config.json` names
/// the embedding's dtype.
pub fn save_stored(model: &CausalLm, config: &ModelConfig, dir: impl AsRef<Path>) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let dtype = effective_dtype(&model.model.embed_tokens.weight);
    write_pretrained(entries(model, true, None), dtype, config, dir)
}

/// The dtype a parameter's effective value has, without computing it: a mixed-precision
/// master is read in its compute dtype, a LoRA-adapted weight in its factors' dtype.
fn effective_dtype<const D: usize>(p: &Param<Tensor<D>>) -> DType {
    if let Some(cast) = p.reparameterization::<crate::mixed::ComputeCast>() {
        return cast.dtype().into();
    }
    match p.adapter() {
        Some(adapter) => adapter.a.base().dtype(),
        None => p.base().dtype(),
    }
}

fn write_pretrained(
    entries: Vec<Entry<'_>>,
    dtype: DType,
    config: &ModelConfig,
    dir: &Path,
) -> Result<()> {
    write_streamed(&dir.join("model.safetensors"), entries)?;

    let config_json = config.to_hf_json(hf_dtype_name(dtype));
    write_atomic(&dir.join("config.json"), &pretty(&config_json))?;
    let mut generation = serde_json::Map::new();
    if let Some(bos) = config.bos_token_id {
        generation.insert("bos_token_id".into(), bos.into());
    }
    match config.eos_token_ids.as_slice() {
        [] => {}
        [one] => {
            generation.insert("eos_token_id".into(), (*one).into());
        }
        many => {
            generation.insert("eos_token_id".into(), many.to_vec().into());
        }
    }
    write_atomic(
        &dir.join("generation_config.json"),
        &pretty(&Value::Object(generation)),
    )?;
    Ok(())
}

/// Writes host `tensors` (small ones: a LoRA adapter) to the safetensors file `path`
/// atomically.
pub(crate) fn write_safetensors(path: &Path, tensors: &BTreeMap<String, TensorData>) -> Result<()> {
    let entries = tensors
        .iter()
        .map(|(name, data)| Entry {
            name: name.clone(),
            shape: data.shape().to_vec(),
            dtype: data.dtype(),
            read: Box::new(move || data.clone()),
        })
        .collect();
    write_streamed(path, entries)
}

/// Writes `entries` to the safetensors file `path` atomically, with PyTorch's metadata
/// `{"format": "pt"}`: byte for byte what `safetensors::serialize_to_file` writes (its header
/// types, its tensor order), but reading one entry's host copy at a time and dropping it once
/// written. safetensors' own writer keeps every view alive until the end of the file, so a
/// view that makes its host copy lazily still ends with a host copy of the whole model.
fn write_streamed(path: &Path, mut entries: Vec<Entry<'_>>) -> Result<()> {
    use safetensors::tensor::TensorInfo;
    use std::io::Write;
    let format_error = |problem: String| ModelError::Safetensors {
        path: path.to_path_buf(),
        problem,
    };
    // safetensors' order: descending dtype alignment, then name; the offsets follow it.
    entries.sort_by(|l, r| {
        st_dtype(r.dtype)
            .cmp(&st_dtype(l.dtype))
            .then_with(|| l.name.cmp(&r.name))
    });
    let mut offset = 0;
    let infos = entries
        .iter()
        .map(|e| {
            let info = TensorInfo {
                dtype: st_dtype(e.dtype),
                shape: e.shape.clone(),
                data_offsets: (offset, offset + e.data_len()),
            };
            offset += e.data_len();
            (e.name.clone(), info)
        })
        .collect();
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let header = Metadata::new(Some(metadata), infos).map_err(|e| format_error(e.to_string()))?;
    let mut header = serde_json::to_vec(&header).map_err(|e| format_error(e.to_string()))?;
    header.resize(header.len().next_multiple_of(8), b' ');

    write_atomic_with(path, |tmp| {
        let io = |e| ModelError::io(tmp, e);
        let mut out = std::io::BufWriter::with_capacity(1 << 20, File::create(tmp).map_err(io)?);
        out.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        out.write_all(&header).map_err(io)?;
        for entry in entries {
            let expected = entry.data_len();
            let data = (entry.read)();
            if data.as_bytes().len() != expected {
                return Err(format_error(format!(
                    "{}: {} bytes of data for {expected} in the header",
                    entry.name,
                    data.as_bytes().len()
                )));
            }
            out.write_all(data.as_bytes()).map_err(io)?;
        }
        out.flush().map_err(io)
    })
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s.into_bytes()
}

fn st_dtype(dtype: DType) -> Dtype {
    match dtype {
        DType::F16 => Dtype::F16,
        DType::BF16 => Dtype::BF16,
        DType::F64 => Dtype::F64,
        _ => Dtype::F32,
    }
}

fn hf_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        _ => "float32",
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory (`path` + `.tmp`)
/// and a rename. A failed write (a full disk) removes its temporary file; one left by a killed
/// process is removed by [`remove_stale_temporaries`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    write_atomic_with(path, |tmp| {
        let mut file = File::create(tmp).map_err(|e| ModelError::io(tmp, e))?;
        file.write_all(bytes).map_err(|e| ModelError::io(tmp, e))
    })
}

/// [`write_atomic`] for a writer that creates the temporary file itself: `write` fills it,
/// then it is synced and renamed over `path`.
fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temporary_of(path);
    let written = write(&tmp).and_then(|()| {
        File::open(&tmp)
            .and_then(|f| f.sync_all())
            .map_err(|e| ModelError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn temporary_of(path: &Path) -> PathBuf {
    path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ))
}

/// The files [`save_pretrained`] writes.
const SAVED_FILES: [&str; 3] = ["model.safetensors", "config.json", "generation_config.json"];

/// Removes the temporary files a killed [`save_pretrained`] left in `dir`
/// (`model.safetensors.tmp`, `config.json.tmp`, `generation_config.json.tmp`, nothing else);
/// returns the paths removed. A missing `dir` is no error.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("o1p-stale-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// std::fs::write(dir.join("model.safetensors.tmp"), b"half").unwrap();
/// std::fs::write(dir.join("notes.tmp"), b"mine").unwrap();
/// let removed = o1p_model::weights::remove_stale_temporaries(&dir).unwrap();
/// assert_eq!(removed, [dir.join("model.safetensors.tmp")]);
/// assert!(dir.join("notes.tmp").exists());
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for name in SAVED_FILES {
        let tmp = temporary_of(&dir.join(name));
        if tmp.is_file() {
            std::fs::remove_file(&tmp).map_err(|e| ModelError::io(&tmp, e))?;
            removed.push(tmp);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed writer's file is the one `safetensors::serialize` makes from the same
    /// tensors, header and order included, with mixed dtypes (the order sorts by dtype first).
    #[test]
    fn streamed_file_is_byte_for_byte_safetensors_own() {
        let tensors = BTreeMap::from([
            (
                "b.weight".to_string(),
                TensorData::new(vec![1.0f32, -2.0, 3.5, 0.25, 8.0, 9.0], [2, 3]),
            ),
            (
                "a.bias".to_string(),
                TensorData::new(vec![half::bf16::from_f32(0.5); 3], [3]),
            ),
            ("c".to_string(), TensorData::new(vec![7.0f32], [1])),
            (
                "d.weight".to_string(),
                TensorData::new(vec![half::f16::from_f32(-1.5); 4], [4, 1]),
            ),
        ]);
        let dir = std::env::temp_dir().join(format!("o1p-streamed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.safetensors");
        write_safetensors(&path, &tensors).unwrap();
        let ours = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        let views: Vec<_> = tensors
            .iter()
            .map(|(name, data)| {
                let view = safetensors::tensor::TensorView::new(
                    st_dtype(data.dtype()),
                    data.shape().to_vec(),
                    data.as_bytes(),
                )
                .unwrap();
                (name.clone(), view)
            })
            .collect();
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        let theirs = safetensors::serialize(views, Some(metadata)).unwrap();
        assert_eq!(ours, theirs);
    }
}
