//! The Qwen2 / Llama decoder-only transformer.
//!
//! - token embedding, then `num_hidden_layers` pre-norm blocks, then a final RMSNorm;
//! - attention: grouped-query (GQA) with rotate-half RoPE, optional q/k/v biases (Qwen2);
//! - MLP: SwiGLU (`down(silu(gate(x)) * up(x))`);
//! - output: `lm_head`, or the embedding matrix when `tie_word_embeddings` is set.
//!
//! Reference: transformers' `modeling_qwen2.py` and `modeling_llama.py`. Field names are the
//! checkpoint's tensor names (`model.layers.3.self_attn.q_proj.weight`), which is what lets
//! [`crate::weights`] load and save Hugging Face files without a name map.
//!
//! Padding and caching: every forward takes explicit position ids and an optional key-padding
//! mask, so left- or right-padded batches give each row the same numbers it gets alone, and a
//! [`KvCache`] makes incremental decoding cost one position per step.

use burn::module::{Module, Param};
use burn::nn::{Embedding, Linear};
use burn::tensor::activation::{log_softmax, silu, softmax};
use burn::tensor::{Bool, DType, Device, Int, Tensor, TensorData};

use crate::cache::KvCache;
use crate::rope::{RopeFrequencies, apply_rotary};

/// Root-mean-square layer norm, computed in f32 whatever the weights' dtype (as transformers).
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// The per-channel gain, `[hidden]`.
    pub weight: Param<Tensor<1>>,
    /// Added to the mean square before the square root.
    pub eps: f64,
}

impl RmsNorm {
    /// # Shapes
    /// - x: `[..., hidden]` -> `[..., hidden]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let dtype = x.dtype();
        let x32 = if dtype == DType::F32 {
            x
        } else {
            x.cast(DType::F32)
        };
        let inv_rms = (x32.clone().square().mean_dim(D - 1) + self.eps)
            .sqrt()
            .recip();
        let normed = x32 * inv_rms;
        let normed = if dtype == DType::F32 {
            normed
        } else {
            normed.cast(dtype)
        };
        normed * self.weight.val().unsqueeze()
    }
}

/// `x W + b` of a linear layer. With a LoRA adapter attached (see [`crate::lora`]) it is
/// `x W + scale * (x A) B + b`: Burn's `Param::val` would compose the dense `W + scale A B` on
/// every call, and autodiff would keep that matrix for the backward pass, a second copy of
/// every adapted weight (measured: +1.2 GB in one step at the 1.5B width with 4 layers).
///
/// `adapter_dropout` is LoRA's dropout on the adapter's input (PEFT's `lora_dropout`): in
/// training only (an autodiff device), the base path always sees all of `x`.
fn project(linear: &Linear, x: Tensor<3>, adapter_dropout: f64) -> Tensor<3> {
    let Some(adapter) = linear.weight.adapter() else {
        return linear.forward(x);
    };
    let base = burn::tensor::module::linear(
        x.clone(),
        linear.weight.base(),
        linear.bias.as_ref().map(|b| b.val()),
    );
    // Under mixed precision the factors are f32 masters among 16-bit activations.
    let dtype = x.dtype();
    let factor = |p: &burn::module::Param<Tensor<2>>| {
        let t = p.val();
        if t.dtype() == dtype { t } else { t.cast(dtype) }
    };
    let x = if adapter_dropout > 0.0 && x.device().is_autodiff() {
        let keep = 1.0 - adapter_dropout;
        let kept = x.random_like(burn::tensor::Distribution::Bernoulli(keep));
        x * kept.mul_scalar(1.0 / keep)
    } else {
        x
    };
    let low_rank = x
        .matmul(factor(&adapter.a).unsqueeze())
        .matmul(factor(&adapter.b).unsqueeze());
    base + low_rank.mul_scalar(adapter.scale)
}

/// The SwiGLU feed-forward block.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `[hidden] -> [intermediate]`, passed through SiLU.
    pub gate_proj: Linear,
    /// `[hidden] -> [intermediate]`, the linear branch.
    pub up_proj: Linear,
    /// `[intermediate] -> [hidden]`.
    pub down_proj: Linear,
    /// LoRA dropout on the input of this block's adapters, in training (0: none).
    pub adapter_dropout: f64,
}

impl Mlp {
    /// # Shapes
    /// - x: `[batch, seq, hidden]` -> `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let p = self.adapter_dropout;
        let gate = silu(project(&self.gate_proj, x.clone(), p));
        project(&self.down_proj, gate * project(&self.up_proj, x, p), p)
    }
}

/// Grouped-query self-attention with rotary positions.
#[derive(Module, Debug)]
pub struct Attention {
    /// `[hidden] -> [heads * head_dim]`.
    pub q_proj: Linear,
    /// `[hidden] -> [kv_heads * head_dim]`.
    pub k_proj: Linear,
    /// `[hidden] -> [kv_heads * head_dim]`.
    pub v_proj: Linear,
    /// `[heads * head_dim] -> [hidden]`.
    pub o_proj: Linear,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// LoRA dropout on the input of this block's adapters, in training (0: none).
    pub adapter_dropout: f64,
}

impl Attention {
    /// # Shapes
    /// - x: `[batch, seq, hidden]`
    /// - cos, sin: `[batch, 1, seq, head_dim]`
    /// - mask: `[batch, 1, seq, past + seq]`, `true` where a key must not be seen
    /// - returns `[batch, seq, hidden]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4, Bool>,
        cache: Option<&mut crate::cache::LayerCache>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let (h, kvh, d) = (self.num_heads, self.num_kv_heads, self.head_dim);
        let q = project(&self.q_proj, x.clone(), self.adapter_dropout)
            .reshape([b, t, h, d])
            .swap_dims(1, 2);
        let k = project(&self.k_proj, x.clone(), self.adapter_dropout)
            .reshape([b, t, kvh, d])
            .swap_dims(1, 2);
        let v = project(&self.v_proj, x, self.adapter_dropout)
            .reshape([b, t, kvh, d])
            .swap_dims(1, 2);
        let q = apply_rotary(q, cos, sin); // [b, h, t, d]
        let k = apply_rotary(k, cos, sin); // [b, kvh, t, d]
        let (k, v) = match cache {
            Some(cache) => cache.append(k, v), // [b, kvh, past + t, d]
            None => (k, v),
        };
        let tk = k.dims()[2];
        let groups = h / kvh;
        let fill = masked_fill_value(k.dtype());

        // GQA without copying keys: the `groups` query heads that share one key/value head are
        // stacked along the sequence axis, so one matmul per kv head serves them all.
        let q = q.reshape([b, kvh, groups * t, d]);
        let scores = q.matmul(k.swap_dims(2, 3)) * (1.0 / (d as f64).sqrt()); // [b, kvh, g*t, tk]
        let scores = scores.reshape([b, h, t, tk]);
        // A finite fill keeps rows with no visible key (left padding) finite: they become a
        // uniform average that the caller ignores, instead of NaNs that poison the batch.
        let scores = scores.mask_fill(mask.clone().expand([b, h, t, tk]), fill);
        let probs = softmax(scores, 3).reshape([b, kvh, groups * t, tk]);
        let out = probs.matmul(v).reshape([b, h, t, d]); // [b, h, t, d]
        let out = out.swap_dims(1, 2).reshape([b, t, h * d]);
        project(&self.o_proj, out, self.adapter_dropout)
    }
}

/// The most negative value that stays finite in the scores' dtype.
fn masked_fill_value(dtype: DType) -> f32 {
    match dtype {
        DType::F16 => -65_000.0,
        _ => -1e30,
    }
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Self-attention.
    pub self_attn: Attention,
    /// Feed-forward.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4, Bool>,
        cache: Option<&mut crate::cache::LayerCache>,
    ) -> Tensor<3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), cos, sin, mask, cache);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }
}

/// The transformer body (`model.*` in checkpoints).
#[derive(Module, Debug)]
pub struct Decoder {
    /// Token embedding, `[vocab, hidden]`.
    pub embed_tokens: Embedding,
    /// The blocks.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
}

/// A causal language model: [`Decoder`] plus the output projection.
///
/// ```
/// use burn::tensor::{Device, Int, Tensor};
/// use o1p_model::{CausalLm, ModelConfig};
///
/// let device = Device::flex();
/// let config = ModelConfig::qwen2(32, 16, 32, 1, 2, 1);
/// let model = CausalLm::random(&config, 0, &device);
/// let tokens = Tensor::<2, Int>::from_ints([[1, 2, 3]], &device);
/// let logits = model.forward(tokens, None, None, None);
/// assert_eq!(logits.dims(), [1, 3, 32]);
/// ```
#[derive(Module, Debug)]
pub struct CausalLm {
    /// The transformer body.
    pub model: Decoder,
    /// The output projection; `None` when tied to the embedding.
    pub lm_head: Option<Linear>,
    /// Rotary frequencies (not parameters).
    #[module(skip)]
    pub rope: RopeFrequencies,
}

impl CausalLm {
    /// Hidden states after the final norm.
    ///
    /// - `positions`: per-row position ids; `None` means `past..past + seq` for every row.
    /// - `key_padding`: `true` where a key position (over the cache and the new tokens,
    ///   `[batch, past + seq]`) is padding; `None` means no padding.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, seq, hidden]`
    pub fn hidden_states(
        &self,
        tokens: Tensor<2, Int>,
        positions: Option<Tensor<2, Int>>,
        key_padding: Option<Tensor<2, Bool>>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let device = tokens.device();
        let [b, t] = tokens.dims();
        let past = cache.as_ref().map_or(0, |c| c.len());
        let positions = positions
            .unwrap_or_else(|| RopeFrequencies::consecutive_positions(b, t, past, &device));
        let (cos, sin) = self.rope.tables(positions);
        let mask = attention_mask(b, t, past, key_padding, &device);

        let mut x = self.model.embed_tokens.forward(tokens);
        let (cos, sin) = (cos.cast(x.dtype()), sin.cast(x.dtype()));
        for (i, layer) in self.model.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| c.layer_mut(i));
            x = layer.forward(x, &cos, &sin, &mask, layer_cache);
        }
        if let Some(c) = cache {
            c.advance(t);
        }
        self.model.norm.forward(x)
    }

    /// Projects hidden states to vocabulary logits (f32).
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]` -> `[batch, seq, vocab]`
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        let logits = match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => {
                let w = self.model.embed_tokens.weight.val(); // [vocab, hidden]
                let [b, t, d] = hidden.dims();
                let vocab = w.dims()[0];
                // Burn's flex backend copies a transposed matmul operand into a contiguous
                // one. `hidden @ w^T` copies the whole [vocab, hidden] matrix on every call;
                // when fewer positions than hidden units are scored (decoding), transposing
                // the positions and the [vocab, positions] product is far less: 200 -> 66 ms
                // per token on SmolLM2-135M at batch 1.
                if b * t < d {
                    let out = w.matmul(hidden.reshape([b * t, d]).transpose()); // [vocab, b*t]
                    out.transpose().reshape([b, t, vocab])
                } else {
                    burn::tensor::module::linear(hidden, w.transpose(), None)
                }
            }
        };
        if logits.dtype() == DType::F32 {
            logits
        } else {
            logits.cast(DType::F32)
        }
    }

    /// Logits of every position: `logits(hidden_states(..))`.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, seq, vocab]`
    pub fn forward(
        &self,
        tokens: Tensor<2, Int>,
        positions: Option<Tensor<2, Int>>,
        key_padding: Option<Tensor<2, Bool>>,
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        self.logits(self.hidden_states(tokens, positions, key_padding, cache))
    }

    /// Logits of the last position of each row only (what decoding needs; skips the
    /// `seq x vocab` projection of the other positions).
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, vocab]`
    pub fn forward_last(
        &self,
        tokens: Tensor<2, Int>,
        positions: Option<Tensor<2, Int>>,
        key_padding: Option<Tensor<2, Bool>>,
        cache: Option<&mut KvCache>,
    ) -> Tensor<2> {
        let hidden = self.hidden_states(tokens, positions, key_padding, cache);
        let [b, t, h] = hidden.dims();
        let last = hidden.slice([0..b, t - 1..t, 0..h]);
        let logits = self.logits(last);
        let vocab = logits.dims()[2];
        logits.reshape([b, vocab])
    }

    /// Positions per chunk of [`CausalLm::target_logprobs`] that keep one chunk's f32 logits
    /// near [`LOGPROB_CHUNK_BYTES`] (441 positions at a 151,936-token vocabulary).
    pub fn logprob_chunk_positions(&self) -> usize {
        (LOGPROB_CHUNK_BYTES / (4 * self.vocab_size().max(1))).max(1)
    }

    /// Log-probability of each target token under the output head at the same position,
    /// without the `[batch, seq, vocab]` logits: positions (over batch and sequence together)
    /// are projected and log-softmaxed `chunk_positions` at a time. Same numbers as
    /// `token_logprobs(self.logits(hidden), targets)`.
    ///
    /// Under autodiff with a frozen output head (tied embedding or `lm_head`; freeze-tuning),
    /// no vocabulary-sized tensor is kept for the backward pass either: the log-prob of
    /// position `i` depends on `hidden[i]` only, through the gradient
    /// `W[target] - softmax(logits)^T W`, which is computed per chunk beside the values, and
    /// the result is `values + sum((hidden - detach(hidden)) * grad)`: the values exactly, and
    /// the exact gradient with respect to `hidden` whatever loss is built on top. A trainable
    /// head needs the vocabulary-sized softmax for its own gradient, so then every chunk goes
    /// through Burn's autodiff (only the forward's transient tensors shrink).
    ///
    /// # Shapes
    /// - hidden: `[batch, seq, hidden]`, targets: `[batch, seq]` -> `[batch, seq]`
    pub fn target_logprobs(
        &self,
        hidden: Tensor<3>,
        targets: Tensor<2, Int>,
        chunk_positions: usize,
    ) -> Tensor<2> {
        let [b, t, d] = hidden.dims();
        let n = b * t;
        let chunk = chunk_positions.max(1);
        let device = hidden.device();
        let tracked = hidden.is_tracked();
        if tracked && self.head_requires_grad() {
            let flat = hidden.reshape([n, d]);
            let targets = targets.reshape([n]);
            let parts: Vec<Tensor<1>> = (0..n)
                .step_by(chunk)
                .map(|start| {
                    let end = (start + chunk).min(n);
                    let h = flat.clone().narrow(0, start, end - start);
                    let y = targets.clone().narrow(0, start, end - start);
                    token_logprobs(
                        self.logits(h.reshape([1, end - start, d])),
                        y.reshape([1, end - start]),
                    )
                    .reshape([end - start])
                })
                .collect();
            return Tensor::cat(parts, 0).reshape([b, t]);
        }

        let flat = hidden.clone().inner().reshape([n, d]);
        let targets = targets.inner().reshape([n]);
        let mut values = Vec::new();
        let mut grads = Vec::new();
        for start in (0..n).step_by(chunk) {
            let end = (start + chunk).min(n);
            let (lp, grad) = self.head_chunk(
                flat.clone().narrow(0, start, end - start),
                targets.clone().narrow(0, start, end - start),
                tracked,
            );
            values.push(lp);
            grads.extend(grad);
        }
        // Rebuilt on `hidden`'s own device, so an autodiff caller gets an autodiff tensor
        // (with the device's checkpointing strategy).
        let values = Tensor::<1>::from_data(Tensor::cat(values, 0).into_data(), &device);
        let values = values.reshape([b, t]);
        if !tracked {
            return values;
        }
        let grad = Tensor::cat(grads, 0).reshape([b, t, d]);
        let zero = hidden.clone() - hidden.detach();
        let surrogate = (zero * grad).sum_dim(2).reshape([b, t]);
        let surrogate = if surrogate.dtype() == DType::F32 {
            surrogate
        } else {
            surrogate.cast(DType::F32)
        };
        values + surrogate
    }

    /// Whether the output head's weight (the embedding when tied) is trained.
    fn head_requires_grad(&self) -> bool {
        match &self.lm_head {
            Some(head) => head.weight.val().is_require_grad(),
            None => self.model.embed_tokens.weight.val().is_require_grad(),
        }
    }

    /// One chunk of [`CausalLm::target_logprobs`], without autodiff: the log-probs `[c]` (f32)
    /// and, when `with_grad`, their gradients with respect to the hidden states `[c, hidden]`.
    fn head_chunk(
        &self,
        hidden: Tensor<2>,
        targets: Tensor<1, Int>,
        with_grad: bool,
    ) -> (Tensor<1>, Option<Tensor<2>>) {
        let [c, _] = hidden.dims();
        let dtype = hidden.dtype();
        let to_f32 = |x: Tensor<2>| {
            if x.dtype() == DType::F32 {
                x
            } else {
                x.cast(DType::F32)
            }
        };
        match &self.lm_head {
            None => {
                // Vocabulary along dim 0: `w @ hidden^T` copies only the chunk's transposed
                // hidden states, never the [vocab, hidden] matrix (see `logits`).
                let w = self.model.embed_tokens.weight.val().inner(); // [vocab, hidden]
                let logits = to_f32(w.clone().matmul(hidden.transpose())); // [vocab, c]
                let (lp, probs) = log_softmax_pick(logits, targets.clone().reshape([1, c]), 0);
                let lp = lp.reshape([c]);
                let grad = with_grad.then(|| {
                    let expected = probs.cast(dtype).transpose().matmul(w.clone()); // [c, hidden]
                    w.select(0, targets) - expected
                });
                (lp, grad)
            }
            Some(head) => {
                let w = head.weight.val().inner(); // [hidden, vocab]
                let mut logits = hidden.matmul(w.clone()); // [c, vocab]
                if let Some(bias) = &head.bias {
                    logits = logits + bias.val().inner().unsqueeze();
                }
                let (lp, probs) =
                    log_softmax_pick(to_f32(logits), targets.clone().reshape([c, 1]), 1);
                let lp = lp.reshape([c]);
                let grad = with_grad.then(|| {
                    let expected = w.clone().matmul(probs.cast(dtype).transpose()); // [hidden, c]
                    (w.select(1, targets) - expected).transpose()
                });
                (lp, grad)
            }
        }
    }

    /// A fresh, empty KV cache for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.model.layers.len())
    }

    /// Number of decoder layers.
    pub fn num_layers(&self) -> usize {
        self.model.layers.len()
    }

    /// Vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.model.embed_tokens.weight.dims()[0]
    }
}

/// Bytes of f32 logits that one chunk of [`CausalLm::target_logprobs`] aims at (256 MiB).
pub const LOGPROB_CHUNK_BYTES: usize = 256 << 20;

/// `log_softmax(logits, dim)` at `targets`, and `softmax(logits, dim)` (for the gradient),
/// computed as `token_logprobs`' log-softmax (max-shifted) without an autodiff graph.
///
/// # Shapes
/// - logits: `[a, b]`; targets: the same with size 1 along `dim` -> (that shape, `[a, b]`)
fn log_softmax_pick(
    logits: Tensor<2>,
    targets: Tensor<2, Int>,
    dim: usize,
) -> (Tensor<2>, Tensor<2>) {
    let max = logits.clone().max_dim(dim);
    let shifted = logits - max;
    let exp = shifted.clone().exp();
    let sum = exp.clone().sum_dim(dim);
    let picked = shifted.gather(dim, targets) - sum.clone().log();
    (picked, exp / sum)
}

/// Log-probability of each target token under the logits at the same position.
///
/// # Shapes
/// - logits: `[batch, seq, vocab]`, targets: `[batch, seq]` -> `[batch, seq]`
pub fn token_logprobs(logits: Tensor<3>, targets: Tensor<2, Int>) -> Tensor<2> {
    let [b, t, _] = logits.dims();
    log_softmax(logits, 2)
        .gather(2, targets.reshape([b, t, 1]))
        .reshape([b, t])
}

/// `true` where query `i` (absolute position `past + i`) must not see key `j`: future keys, and
/// keys marked as padding.
///
/// # Shapes
/// - key_padding: `[batch, past + seq]` -> `[batch, 1, seq, past + seq]`
fn attention_mask(
    batch: usize,
    seq: usize,
    past: usize,
    key_padding: Option<Tensor<2, Bool>>,
    device: &Device,
) -> Tensor<4, Bool> {
    let total = past + seq;
    let causal: Vec<bool> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| j > past + i))
        .collect();
    let causal = Tensor::<4, Bool>::from_data(TensorData::new(causal, [1, 1, seq, total]), device)
        .expand([batch, 1, seq, total]);
    match key_padding {
        None => causal,
        Some(pad) => {
            let pad = pad
                .reshape([batch, 1, 1, total])
                .expand([batch, 1, seq, total]);
            causal.bool_or(pad)
        }
    }
}
