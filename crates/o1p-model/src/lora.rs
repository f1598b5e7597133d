//! LoRA adapters on Burn's built-in reparameterization, read and written in PEFT's layout.
//!
//! [`attach_new`] freezes every weight of a [`CausalLm`] and gives the selected linear layers a
//! trainable low-rank pair (Burn's [`LoraAdapter`]: the layer computes with
//! `W + alpha / rank * A B`, nothing else in the decoder changes). [`save_adapter`] writes the
//! pair the way `peft.PeftModel.save_pretrained` does (`adapter_config.json` and
//! `adapter_model.safetensors`, `base_model.model.<module>.lora_{A,B}.weight`, `[rank, in]` and
//! `[out, rank]`), so PEFT and vLLM load it; [`load_adapter`] reads such a directory back onto a
//! base model. [`weights::save_pretrained`] of an adapted model writes the merged weights.
//!
//! ```
//! use o1p_model::{Backend, CausalLm, LoraConfig, ModelConfig, lora};
//!
//! let device = Backend::Flex.device().unwrap();
//! let config = ModelConfig::qwen2(32, 16, 32, 2, 2, 1);
//! let base = CausalLm::random(&config, 7, &device);
//! let spec = LoraConfig { rank: 4, alpha: 8.0, ..LoraConfig::default() };
//! let adapted = lora::attach_new(base.clone(), &spec, 0).unwrap();
//! let dir = std::env::temp_dir().join("o1p-lora-doctest");
//! lora::save_adapter(&adapted, &spec, "my-base-model", &dir).unwrap();
//! let (reloaded, read) = lora::load_adapter(base, &dir).unwrap();
//! assert_eq!(read, spec);
//! assert_eq!(lora::adapter_tensors(&reloaded).len(), 2 * 7 * 2);
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::module::{LoraAdapter, Module, Param, ParamId, Reparameterizer};
use burn::nn::Linear;
use burn::tensor::{Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::decoder::CausalLm;
use crate::error::{ModelError, Result};
use crate::weights::{
    self, Checkpoint, TensorKind, WeightSource, linear_layers, param_id_of, transpose_data,
};

/// The linear layers an adapter can target, by their Hugging Face module names.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// PEFT's file names inside an adapter directory.
pub const ADAPTER_CONFIG_FILE: &str = "adapter_config.json";
/// The adapter's tensors.
pub const ADAPTER_WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Which layers get an adapter, of what rank and scale (the `[lora]` table of a run config,
/// and PEFT's `r`, `lora_alpha`, `lora_dropout`, `target_modules`, `layers_to_transform`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraConfig {
    /// Rank of the pair (PEFT's `r`).
    pub rank: usize,
    /// The update is scaled by `alpha / rank` (PEFT's `lora_alpha`).
    pub alpha: f64,
    /// Dropout on the adapters' input in training (PEFT's `lora_dropout`), in `[0, 1)`; the
    /// frozen base path and every pass outside training see all of the input.
    pub dropout: f64,
    /// Module names from [`LORA_TARGETS`] (default: all of them, PEFT's `all-linear`).
    pub targets: Vec<String>,
    /// Decoder layer indices to adapt (default: every layer).
    pub layers: Option<Vec<usize>>,
}

impl Default for LoraConfig {
    /// LLaMA-Factory's defaults: rank 8, alpha 16, no dropout, every linear layer.
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            targets: LORA_TARGETS.iter().map(|t| t.to_string()).collect(),
            layers: None,
        }
    }
}

impl LoraConfig {
    /// Checks the values against each other and against a model of `num_layers` layers; the
    /// message names the key (`rank`, `alpha`, `dropout`, `targets`, `layers`).
    pub fn check(&self, num_layers: Option<usize>) -> std::result::Result<(), String> {
        if self.rank == 0 {
            return Err("rank must be at least 1 (typical: 8-64)".into());
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(format!(
                "alpha must be a positive number (typical: 2 * rank), got {}",
                self.alpha
            ));
        }
        if !(self.dropout.is_finite() && (0.0..1.0).contains(&self.dropout)) {
            return Err(format!(
                "dropout must be in [0, 1) (typical: 0.05), got {}",
                self.dropout
            ));
        }
        if self.targets.is_empty() {
            return Err(format!(
                "targets is empty; name some of {}",
                LORA_TARGETS.join(", ")
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            if !LORA_TARGETS.contains(&t.as_str()) {
                return Err(format!(
                    "targets: unknown module `{t}` (known: {})",
                    LORA_TARGETS.join(", ")
                ));
            }
            if self.targets[..i].contains(t) {
                return Err(format!("targets: `{t}` is named twice"));
            }
        }
        if let Some(layers) = &self.layers {
            if layers.is_empty() {
                return Err("layers is empty; leave it out to adapt every layer".into());
            }
            if let Some(n) = num_layers
                && let Some(bad) = layers.iter().find(|&&l| l >= n)
            {
                return Err(format!(
                    "layers: index {bad} is out of range (the model has {n} layers, 0..{n})"
                ));
            }
        }
        Ok(())
    }

    /// `alpha / rank`, the factor of the low-rank update.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    fn adapts(&self, layer: usize, target: &str) -> bool {
        self.targets.iter().any(|t| t == target)
            && self.layers.as_ref().is_none_or(|l| l.contains(&layer))
    }
}

/// Freezes every parameter of `model` and attaches a new adapter to each linear layer `config`
/// selects: `A` drawn as PEFT draws it (uniform in `±1 / sqrt(in)`, seeded per tensor from
/// `seed`) and `B = 0`, so the adapted model starts as the base model.
pub fn attach_new(model: CausalLm, config: &LoraConfig, seed: u64) -> Result<CausalLm> {
    check(config, &model, Path::new("[lora]"))?;
    let mut factors = HashMap::new();
    for (module, linear) in adapted_linears(&model, config) {
        let [d_in, d_out] = linear.weight.dims();
        let name = format!("{module}.lora_A.weight");
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ param_id_of(&name));
        let bound = 1.0 / (d_in as f32).sqrt();
        let a: Vec<f32> = (0..config.rank * d_in)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let a = TensorData::new(a, vec![config.rank, d_in]);
        let b = TensorData::new(vec![0f32; d_out * config.rank], vec![d_out, config.rank]);
        factors.insert(module, (a, b));
    }
    attach(model, config, factors)
}

/// Reads the PEFT adapter in `dir` and attaches it to `model` (whose weights it freezes);
/// returns the adapted model and the adapter's settings. A setting this crate cannot
/// reproduce (DoRA, rsLoRA, per-module ranks, trained biases or extra modules) is an error
/// naming the key; so is a missing, misshapen or unexpected tensor, naming it.
pub fn load_adapter(model: CausalLm, dir: impl AsRef<Path>) -> Result<(CausalLm, LoraConfig)> {
    let (config, mut file) = open_adapter(dir.as_ref())?;
    check(&config, &model, &dir.as_ref().join(ADAPTER_CONFIG_FILE))?;
    let mut factors = HashMap::new();
    for (module, linear) in adapted_linears(&model, &config) {
        let [d_in, d_out] = linear.weight.dims();
        factors.insert(
            module.clone(),
            read_pair(&mut file, &module, config.rank, d_in, d_out)?,
        );
    }
    refuse_extra(&file, &factors, &dir.as_ref().join(ADAPTER_WEIGHTS_FILE))?;
    Ok((attach(model, &config, factors)?, config))
}

/// Replaces the factors of the adapters `model` already carries (from [`attach_new`]) with
/// those of the PEFT adapter in `dir`, each in the dtype of the factor it replaces: how a
/// training checkpoint is resumed without attaching anything twice. The directory must hold
/// exactly the model's adapters.
pub fn load_factors(model: CausalLm, dir: impl AsRef<Path>) -> Result<CausalLm> {
    let dir = dir.as_ref();
    let (config, mut file) = open_adapter(dir)?;
    let mut factors = HashMap::new();
    let mut by_id = HashMap::new();
    for (module, linear) in linear_layers(&model) {
        let Some(adapter) = linear.weight.adapter() else {
            continue;
        };
        let [d_in, rank] = adapter.a.dims();
        let [_, d_out] = adapter.b.dims();
        if rank != config.rank {
            return Err(ModelError::Config {
                path: dir.join(ADAPTER_CONFIG_FILE),
                field: "r".into(),
                problem: format!("{}, but the model's adapters have rank {rank}", config.rank),
            });
        }
        let (a, b) = read_pair(&mut file, &module, rank, d_in, d_out)?;
        by_id.insert(adapter.a.id, transpose_data(a.clone()));
        by_id.insert(adapter.b.id, transpose_data(b.clone()));
        factors.insert(module, (a, b));
    }
    refuse_extra(&file, &factors, &dir.join(ADAPTER_WEIGHTS_FILE))?;

    struct Replace(HashMap<ParamId, TensorData>);
    impl burn::module::ModuleMapper for Replace {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(data) = self.0.remove(&param.id) else {
                return param;
            };
            // A tensor made from data is an untracked leaf: the factor's autodiff flag is
            // set again, or it would silently stop training.
            let trains = param.is_require_grad();
            param
                .map(|old| {
                    let data = data.convert_dtype(old.dtype());
                    Tensor::from_data(data, (&old.device(), old.dtype()))
                })
                .set_require_grad(trains)
        }
    }
    Ok(model.map(&mut Replace(by_id)))
}

/// The settings and the tensor file of the PEFT adapter in `dir`.
fn open_adapter(dir: &Path) -> Result<(LoraConfig, Checkpoint)> {
    let config_path = dir.join(ADAPTER_CONFIG_FILE);
    let text =
        std::fs::read_to_string(&config_path).map_err(|e| ModelError::io(&config_path, e))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| ModelError::Json {
        path: config_path.clone(),
        error: e,
    })?;
    let config = config_from_peft(&value, &config_path)?;
    Ok((config, Checkpoint::open(dir.join(ADAPTER_WEIGHTS_FILE))?))
}

/// The `(A, B)` tensors of `module` in PEFT's layout, shapes checked.
fn read_pair(
    file: &mut Checkpoint,
    module: &str,
    rank: usize,
    d_in: usize,
    d_out: usize,
) -> Result<(TensorData, TensorData)> {
    let (a, b) = peft_names(module);
    Ok((
        file.tensor(&a, &[rank, d_in], TensorKind::Weight)?,
        file.tensor(&b, &[d_out, rank], TensorKind::Weight)?,
    ))
}

/// A tensor the settings do not account for would be dropped without a word.
fn refuse_extra(
    file: &Checkpoint,
    factors: &HashMap<String, (TensorData, TensorData)>,
    path: &Path,
) -> Result<()> {
    let known: std::collections::HashSet<String> = factors
        .keys()
        .flat_map(|m| {
            let (a, b) = peft_names(m);
            [a, b]
        })
        .collect();
    match file.names().find(|n| !known.contains(*n)) {
        Some(extra) => Err(ModelError::Config {
            path: path.to_path_buf(),
            field: extra.to_string(),
            problem: "no module of the adapter's target_modules / layers_to_transform has this tensor (a module of another model, or of PEFT's modules_to_save?)".into(),
        }),
        None => Ok(()),
    }
}

/// Every adapter tensor of `model` under its PEFT name, in PEFT's layout (`lora_A.weight`
/// `[rank, in]`, `lora_B.weight` `[out, rank]`) and the factors' dtype.
pub fn adapter_tensors(model: &CausalLm) -> BTreeMap<String, TensorData> {
    let mut out = BTreeMap::new();
    for (module, linear) in linear_layers(model) {
        if let Some(adapter) = linear.weight.adapter() {
            let (a, b) = peft_names(&module);
            out.insert(a, transpose_data(adapter.a.val().into_data()));
            out.insert(b, transpose_data(adapter.b.val().into_data()));
        }
    }
    out
}

/// Writes `model`'s adapter into `dir` as PEFT does: `adapter_config.json` (with
/// `base_model_name_or_path = base_model`) and `adapter_model.safetensors`, each atomically.
pub fn save_adapter(
    model: &CausalLm,
    config: &LoraConfig,
    base_model: &str,
    dir: impl AsRef<Path>,
) -> Result<()> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
    let tensors = adapter_tensors(model);
    if tensors.is_empty() {
        return Err(ModelError::Config {
            path: dir.to_path_buf(),
            field: "adapter".into(),
            problem: "the model carries no LoRA adapter".into(),
        });
    }
    weights::write_safetensors(&dir.join(ADAPTER_WEIGHTS_FILE), &tensors)?;
    let peft = json!({
        "base_model_name_or_path": base_model,
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "inference_mode": true,
        "r": config.rank,
        "lora_alpha": config.alpha,
        "lora_dropout": config.dropout,
        "target_modules": config.targets,
        "layers_to_transform": config.layers,
        "layers_pattern": null,
        "bias": "none",
        "fan_in_fan_out": false,
        "modules_to_save": null,
        "init_lora_weights": true,
        "use_rslora": false,
        "use_dora": false,
        "rank_pattern": {},
        "alpha_pattern": {},
        "revision": null,
    });
    let mut text = serde_json::to_string_pretty(&peft).unwrap_or_default();
    text.push('\n');
    weights::write_atomic(&dir.join(ADAPTER_CONFIG_FILE), text.as_bytes())
}

/// PEFT's two tensor names of the adapter on `module` (`model.layers.3.self_attn.q_proj`).
fn peft_names(module: &str) -> (String, String) {
    (
        format!("base_model.model.{module}.lora_A.weight"),
        format!("base_model.model.{module}.lora_B.weight"),
    )
}

/// The linear layers `config` adapts, by module name.
fn adapted_linears<'m>(model: &'m CausalLm, config: &LoraConfig) -> Vec<(String, &'m Linear)> {
    linear_layers(model)
        .into_iter()
        .filter(|(module, _)| {
            let mut parts = module.split('.');
            let layer = parts
                .nth(2)
                .and_then(|l| l.parse().ok())
                .unwrap_or(usize::MAX);
            let target = module.rsplit('.').next().unwrap_or_default();
            config.adapts(layer, target)
        })
        .collect()
}

fn check(config: &LoraConfig, model: &CausalLm, origin: &Path) -> Result<()> {
    config
        .check(Some(model.num_layers()))
        .map_err(|problem| ModelError::Config {
            path: origin.to_path_buf(),
            field: "lora".into(),
            problem,
        })
}

/// Attaches `factors` (PEFT layout, by module name) to `model` and freezes everything else.
fn attach(
    model: CausalLm,
    config: &LoraConfig,
    factors: HashMap<String, (TensorData, TensorData)>,
) -> Result<CausalLm> {
    let expected = factors.len();
    let mut attached = 0;
    let model = model.apply_reparameterization(Attach {
        factors,
        scale: config.scale(),
        attached: &mut attached,
    });
    // Burn's LoraAdapter carries no dropout: the decoder blocks apply it to their adapters'
    // input, in training only.
    let mut model = model;
    for layer in &mut model.model.layers {
        layer.self_attn.adapter_dropout = config.dropout;
        layer.mlp.adapter_dropout = config.dropout;
    }
    // Burn hands the reparameterizer each parameter's module path; should its spelling ever
    // differ from the Hugging Face names used above, no adapter would attach, silently.
    if attached != expected {
        return Err(ModelError::Config {
            path: "[lora]".into(),
            field: "targets".into(),
            problem: format!(
                "{attached} of {expected} adapters attached: the module paths of the decoder do not match its Hugging Face names"
            ),
        });
    }
    Ok(model)
}

/// Burn's [`Reparameterizer`] that freezes every parameter and gives the named linear weights
/// Burn's [`LoraAdapter`] with the given factors and parameter ids derived from their PEFT
/// names (so that an optimizer state saved beside an adapter finds its parameters again).
struct Attach<'a> {
    factors: HashMap<String, (TensorData, TensorData)>,
    scale: f64,
    attached: &'a mut usize,
}

impl Reparameterizer for Attach<'_> {
    type Reparam = LoraAdapter;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<LoraAdapter>) {
        let param = param.set_require_grad(false);
        let module = path.strip_suffix(".weight").unwrap_or(path);
        let Some((a, b)) = (D == 2).then(|| self.factors.remove(module)).flatten() else {
            return (param, None);
        };
        let base = param.val();
        let (device, dtype) = (base.device(), base.dtype());
        let (a_name, b_name) = peft_names(module);
        // Burn's linear weight is [in, out]: A is [in, rank], B is [rank, out].
        let factor = |data: TensorData, name: &str| {
            let data = transpose_data(data);
            let data = if data.dtype() == dtype {
                data
            } else {
                data.convert_dtype(dtype)
            };
            let mut p = Param::from_tensor(Tensor::<2>::from_data(data, (&device, dtype)));
            p.id = ParamId::from(param_id_of(name));
            p
        };
        *self.attached += 1;
        let adapter = LoraAdapter {
            a: factor(a, &a_name),
            b: factor(b, &b_name),
            scale: self.scale,
        };
        (param, Some(adapter))
    }
}

/// The adapter settings of a PEFT `adapter_config.json`.
fn config_from_peft(v: &Value, path: &Path) -> Result<LoraConfig> {
    let bad = |field: &str, problem: String| ModelError::Config {
        path: path.to_path_buf(),
        field: field.into(),
        problem,
    };
    let peft_type = v.get("peft_type").and_then(Value::as_str).unwrap_or("");
    if peft_type != "LORA" {
        return Err(bad(
            "peft_type",
            format!("only LORA adapters are read, got `{peft_type}`"),
        ));
    }
    // Settings that change what the tensors mean: refused rather than misread.
    for (key, neutral) in [
        ("use_dora", json!(false)),
        ("use_rslora", json!(false)),
        ("fan_in_fan_out", json!(false)),
        ("bias", json!("none")),
    ] {
        if let Some(found) = v.get(key)
            && !found.is_null()
            && *found != neutral
        {
            return Err(bad(
                key,
                format!("{found} is not supported (only {neutral})"),
            ));
        }
    }
    for key in ["rank_pattern", "alpha_pattern"] {
        if v.get(key)
            .and_then(Value::as_object)
            .is_some_and(|m| !m.is_empty())
        {
            return Err(bad(
                key,
                "per-module ranks and alphas are not supported".into(),
            ));
        }
    }
    if v.get("modules_to_save").is_some_and(|m| !m.is_null()) {
        return Err(bad(
            "modules_to_save",
            "fully trained extra modules are not supported".into(),
        ));
    }
    let rank =
        v.get("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| bad("r", "missing or not a positive integer".into()))? as usize;
    let alpha = v
        .get("lora_alpha")
        .and_then(Value::as_f64)
        .ok_or_else(|| bad("lora_alpha", "missing or not a number".into()))?;
    let dropout = v.get("lora_dropout").and_then(Value::as_f64).unwrap_or(0.0);
    if dropout != 0.0 {
        // An inference-time adapter never applies its dropout: read it as the same adapter.
        tracing::info!(dropout, path = %path.display(), "lora_dropout applies in training only; ignored");
    }
    let targets = match v.get("target_modules") {
        Some(Value::String(s)) if s == "all-linear" => LoraConfig::default().targets,
        Some(Value::Array(items)) => {
            let mut names: Vec<String> = items
                .iter()
                .map(|t| t.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("target_modules", "not a list of module names".into()))?;
            // PEFT stores a set: keep the decoder's own order for a stable round trip.
            names.sort_by_key(|n| LORA_TARGETS.iter().position(|t| t == n));
            names
        }
        other => {
            return Err(bad(
                "target_modules",
                format!(
                    "expected a list of module names or \"all-linear\", got {other:?} (regular expressions are not read)"
                ),
            ));
        }
    };
    let layers = match v.get("layers_to_transform") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(vec![n.as_u64().unwrap_or(u64::MAX) as usize]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| i.as_u64().map(|i| i as usize))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("layers_to_transform", "not a list of layer indices".into()))?,
        ),
        Some(other) => return Err(bad("layers_to_transform", format!("unexpected {other}"))),
    };
    let config = LoraConfig {
        rank,
        alpha,
        dropout: 0.0,
        targets,
        layers,
    };
    config
        .check(None)
        .map_err(|problem| bad("adapter_config", problem))?;
    Ok(config)
}
