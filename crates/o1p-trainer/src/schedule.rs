//! Learning-rate schedule and global gradient-norm clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// The learning rate of optimizer step `step` (0-based) of `total`: Hugging Face's cosine
/// schedule with warmup (`get_cosine_with_min_lr_schedule_with_warmup`, the reference code's
/// `lr_scheduler_type: cosine`). Linear warmup from 0 at step 0 to `lr` at step `warmup`, then
/// a half cosine from `lr` down to `min_lr` at step `total`:
///
/// ```text
/// step < warmup:  lr * step / warmup
/// otherwise:      min_lr + (lr - min_lr) * 0.5 * (1 + cos(pi * (step - warmup) / max(1, total - warmup)))
/// ```
///
/// As in the Trainer, the first step of a run with warmup has learning rate 0 (it only fills
/// AdamW's moments).
///
/// ```
/// use o1p_trainer::schedule::lr_at;
/// assert_eq!(lr_at(0, 10, 2, 1.0, 0.0), 0.0);
/// assert_eq!(lr_at(1, 10, 2, 1.0, 0.0), 0.5);
/// assert_eq!(lr_at(2, 10, 2, 1.0, 0.0), 1.0);
/// assert!((lr_at(6, 10, 2, 1.0, 0.0) - 0.5).abs() < 1e-12); // halfway through the cosine
/// assert!(lr_at(9, 10, 2, 1.0, 0.0) < 0.05);
/// assert_eq!(lr_at(0, 10, 0, 1.0, 0.0), 1.0); // no warmup: the peak at once
/// ```
pub fn lr_at(step: usize, total: usize, warmup: usize, lr: f64, min_lr: f64) -> f64 {
    if step < warmup {
        return lr * step as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / decay_steps as f64).min(1.0);
    min_lr + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Scales all gradients so that their global L2 norm is at most `max_norm` (Burn's own
/// clipping is per tensor, which is not what the paper's `max_grad_norm` means). Returns the
/// norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut sum = SquaredNorm { grads, total: 0.0 };
    model.visit(&mut sum);
    let norm = sum.total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let mut scale = Scale {
            grads,
            factor: (max_norm / (norm + 1e-6)) as f32,
        };
        model.visit(&mut scale);
    }
    norm
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s: f32 = g.square().sum().into_scalar();
            self.total += f64::from(s);
        }
    }
}

/// Multiplies every gradient of `model`'s parameters in `grads` by `factor`.
pub(crate) fn scale_grads<M: Module>(model: &M, grads: &mut GradientsParams, factor: f32) {
    model.visit(&mut Scale { grads, factor });
}

/// Dynamic loss scaling for `dtype = "f16-mixed"`, as PyTorch's `GradScaler`: the loss is
/// multiplied by `scale` before the backward pass so that small f16 gradients do not flush to
/// zero, the gradients are divided by it again, and a step whose gradients overflowed is
/// skipped with the scale halved; after `GROWTH_INTERVAL` good steps in a row it doubles.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossScale {
    /// The factor of the loss.
    pub scale: f32,
    /// Good steps since the last change of the scale.
    pub good_steps: u32,
}

impl Default for LossScale {
    /// PyTorch's initial scale, 2^16.
    fn default() -> Self {
        LossScale {
            scale: 65536.0,
            good_steps: 0,
        }
    }
}

impl LossScale {
    /// PyTorch's `growth_interval`.
    pub const GROWTH_INTERVAL: u32 = 2000;

    /// Records a step whose unscaled gradients were finite (`true`, the step was taken) or not
    /// (`false`, the step was skipped).
    pub fn update(&mut self, finite: bool) {
        if finite {
            self.good_steps += 1;
            if self.good_steps == Self::GROWTH_INTERVAL {
                self.scale = (self.scale * 2.0).min(f32::MAX / 2.0);
                self.good_steps = 0;
            }
        } else {
            self.scale = (self.scale * 0.5).max(1.0);
            self.good_steps = 0;
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    factor: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register::<D>(param.id, g * self.factor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{LossScale, lr_at};

    #[test]
    fn loss_scale_halves_on_overflow_and_doubles_after_the_growth_interval() {
        let mut s = LossScale::default();
        s.update(false);
        assert_eq!(
            s,
            LossScale {
                scale: 32768.0,
                good_steps: 0
            }
        );
        for _ in 0..LossScale::GROWTH_INTERVAL - 1 {
            s.update(true);
        }
        assert_eq!(s.scale, 32768.0);
        s.update(true);
        assert_eq!(
            s,
            LossScale {
                scale: 65536.0,
                good_steps: 0
            }
        );
        for _ in 0..40 {
            s.update(false);
        }
        assert_eq!(s.scale, 1.0, "never below 1");
    }

    /// The learning rates transformers 5.24 applies at each optimizer step with
    /// `get_cosine_with_min_lr_schedule_with_warmup(num_warmup_steps=3,
    /// num_training_steps=20, min_lr_rate=0.1)` and peak 2e-7 (read from the optimizer's
    /// param group before each `step()`).
    const HF_WARMUP_3_OF_20: [f64; 20] = [
        0.0,
        6.666666666666665e-08,
        1.333333333333333e-07,
        2e-07,
        1.9846757897155116e-07,
        1.9392250064639199e-07,
        1.8651954221566527e-07,
        1.765108025498593e-07,
        1.6423711727413307e-07,
        1.5011645201988846e-07,
        1.3462966910648747e-07,
        1.1830415235169718e-07,
        1.0169584764830283e-07,
        8.537033089351255e-08,
        6.988354798011155e-08,
        5.576288272586693e-08,
        4.348919745014069e-08,
        3.348045778433474e-08,
        2.6077499353607985e-08,
        2.1532421028448838e-08,
    ];

    #[test]
    fn matches_hugging_face_cosine_with_warmup() {
        for (step, &want) in HF_WARMUP_3_OF_20.iter().enumerate() {
            let got = lr_at(step, 20, 3, 2e-7, 2e-8);
            assert!(
                (got - want).abs() <= 1e-12 * 2e-7,
                "step {step}: {got} vs {want}"
            );
        }
        // get_cosine_schedule_with_warmup(num_warmup_steps=0, num_training_steps=5), peak 1.
        let no_warmup = [
            1.0,
            0.9045084971874737,
            0.6545084971874737,
            0.3454915028125263,
        ];
        for (step, &want) in no_warmup.iter().enumerate() {
            assert!(
                (lr_at(step, 5, 0, 1.0, 0.0) - want).abs() < 1e-12,
                "step {step}"
            );
        }
    }
}
