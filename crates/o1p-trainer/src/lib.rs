//! O1-Pruner's fine-tuning core and its baselines, on Burn.
//!
//! Steps 2 and 3 of the method (../docs/ARCHITECTURE.md): the pre-sampled pool becomes
//! rewarded [`TrainExample`]s ([`data`]), and [`train`] fine-tunes the policy with the
//! PPO-style clipped off-policy objective ([`loss`]), or with the paper's SFT / DPO baselines
//! from the same pool. [`on_policy`] runs the objective on-policy instead (Eq. 7 read
//! literally: rounds of sampling from the current policy, rewarded against the pool's
//! reference statistics). The same code trains on every Burn backend: the model's device
//! decides.
//!
//! ```
//! use o1p_trainer::loss::{policy_loss, PolicyLossConfig, StepTotals, tensor2};
//! use burn::tensor::{Device, Tensor};
//!
//! let device = Device::flex();
//! // One sequence of 2 response tokens whose policy equals the reference: r = 1.
//! let logp = tensor2(vec![-1.0, -2.0], 1, 2, &device);
//! let mask = tensor2(vec![1.0, 1.0], 1, 2, &device);
//! let adv = Tensor::<1>::from_floats([0.5], &device);
//! let totals = StepTotals { sequences: 1, tokens: 2 };
//! let (loss, _) = policy_loss(logp.clone(), logp, mask, adv, &PolicyLossConfig::default(), totals);
//! assert!((loss.into_scalar::<f32>() + 0.5).abs() < 1e-6); // -min(r*A, clip(r)*A) = -0.5
//! ```
#![deny(missing_docs)]

pub mod batch;
mod config;
pub mod data;
mod error;
pub mod loss;
pub mod on_policy;
pub mod pool;
mod ranges;
mod run;
pub mod schedule;
mod train;

pub use config::{
    Method, OnPolicyConfig, OptimConfig, ReferenceMode, TrainConfig, TrainMode, TrainPrecision,
};
pub use data::{PoolSample, RewardConfig, TrainExample};
pub use error::{Result, TrainError};
pub use o1p_model::LoraConfig;
pub use on_policy::{OnPolicySpec, RoundMetrics, RoundProblem, train_on_policy};
pub use run::{
    ADAPTER_DIR, REWARDS_FILE, RUN_OUTPUTS, export, fingerprint, fingerprint_with, remove_outputs,
    run, run_with_reward, training_device, training_set, training_set_with,
};
pub use train::{Objective, StepMetrics, TrainReport, TrainSettings, freeze_layers, train};
