//! Learning-rate schedule and global gradient-norm clipping.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Linear warmup from 0 to `lr` over `warmup` steps, then a cosine decay to `min_lr` at
/// `total` steps (the reference code's schedule: cosine with warmup ratio 0.1).
///
/// ```
/// use o1p_trainer::schedule::lr_at;
/// assert_eq!(lr_at(0, 10, 2, 1.0, 0.0), 0.5);
/// assert_eq!(lr_at(2, 10, 2, 1.0, 0.0), 1.0);
/// assert!(lr_at(9, 10, 2, 1.0, 0.0) < 0.05);
/// ```
pub fn lr_at(step: usize, total: usize, warmup: usize, lr: f64, min_lr: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
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
