//! Rotary position embedding in the Hugging Face "rotate-half" form.
//!
//! Burn's own `RotaryEncoding` rotates interleaved pairs `(x0, x1), (x2, x3), ...`; Qwen2 and
//! Llama checkpoints were trained with the two halves of each head rotated against each other
//! (`x[i]` with `x[i + d/2]`). Using the wrong form gives plausible but wrong logits, so this
//! module implements the checkpoint's form and is tested against transformers.
//!
//! The angles are computed per forward from the position ids (as transformers does) instead of
//! from a precomputed table: it costs `batch * seq * head_dim` multiplications, puts no upper
//! bound on positions, and lets padded batches carry arbitrary per-row position ids.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::config::{Llama3RopeScaling, ModelConfig};

/// The inverse frequencies of one head, `head_dim / 2` of them.
#[derive(Clone, Debug)]
pub struct RopeFrequencies {
    inv_freq: Vec<f32>,
}

impl RopeFrequencies {
    /// Builds the frequencies of a config, applying Llama-3 scaling where configured.
    pub fn new(config: &ModelConfig) -> Self {
        let dim = config.head_dim;
        // transformers computes the base frequencies in float32; do the same so that
        // positions near the end of long contexts round identically.
        let mut inv_freq: Vec<f32> = (0..dim / 2)
            .map(|i| 1.0 / (config.rope_theta as f32).powf((2 * i) as f32 / dim as f32))
            .collect();
        if let Some(scaling) = &config.rope_scaling {
            llama3_scale(&mut inv_freq, scaling);
        }
        RopeFrequencies { inv_freq }
    }

    /// The `cos` and `sin` tables for the given positions.
    ///
    /// # Shapes
    /// - positions: `[batch, seq]`
    /// - returns: two tensors `[batch, 1, seq, head_dim]` (broadcast over heads)
    pub fn tables(&self, positions: Tensor<2, Int>) -> (Tensor<4>, Tensor<4>) {
        let device = positions.device();
        let [batch, seq] = positions.dims();
        let half = self.inv_freq.len();
        let inv_freq =
            Tensor::<1>::from_data(TensorData::new(self.inv_freq.clone(), [half]), &device)
                .reshape([1, 1, half]);
        let freqs = positions.float().reshape([batch, seq, 1]) * inv_freq; // [b, t, d/2]
        let emb = Tensor::cat(vec![freqs.clone(), freqs], 2).reshape([batch, 1, seq, 2 * half]);
        (emb.clone().cos(), emb.sin())
    }

    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        2 * self.inv_freq.len()
    }

    /// Builds a tensor of consecutive positions `offset..offset + seq` for every row.
    pub fn consecutive_positions(
        batch: usize,
        seq: usize,
        offset: usize,
        device: &Device,
    ) -> Tensor<2, Int> {
        Tensor::<1, Int>::arange(offset as i64..(offset + seq) as i64, device)
            .reshape([1, seq])
            .repeat_dim(0, batch)
    }
}

/// Rotates a `[batch, heads, seq, head_dim]` tensor by the angles of `cos` / `sin`.
pub fn apply_rotary(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, h, t, d] = x.dims();
    let half = d / 2;
    let x1 = x.clone().slice([0..b, 0..h, 0..t, 0..half]);
    let x2 = x.clone().slice([0..b, 0..h, 0..t, half..d]);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    x * cos.clone() + rotated * sin.clone()
}

/// transformers' `_compute_llama3_parameters`: long wavelengths are stretched by `factor`,
/// short ones kept, and the band in between interpolated smoothly.
fn llama3_scale(inv_freq: &mut [f32], s: &Llama3RopeScaling) {
    let old_context = s.original_max_position_embeddings as f32;
    let low_freq_wavelen = old_context / s.low_freq_factor as f32;
    let high_freq_wavelen = old_context / s.high_freq_factor as f32;
    let factor = s.factor as f32;
    for f in inv_freq.iter_mut() {
        let wavelen = 2.0 * std::f32::consts::PI / *f;
        let scaled = if wavelen > low_freq_wavelen {
            *f / factor
        } else {
            *f
        };
        // wavelen is finite and positive, so these comparisons are total.
        let medium = wavelen >= high_freq_wavelen && wavelen <= low_freq_wavelen;
        *f = if medium {
            let smooth = (old_context / wavelen - s.low_freq_factor as f32)
                / (s.high_freq_factor as f32 - s.low_freq_factor as f32);
            (1.0 - smooth) * scaled / factor + smooth * scaled
        } else {
            scaled
        };
    }
}
