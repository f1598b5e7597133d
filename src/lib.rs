//! O1-Pruner on Burn: the facade crate.
//!
//! Re-exports the workspace crates so that a user depends on one package. See
//! `docs/ARCHITECTURE.md` for how data flows between them.

pub use o1p_data as data;
pub use o1p_eval as eval;
pub use o1p_model as model;
pub use o1p_reward as reward;
pub use o1p_sampler as sampler;
pub use o1p_trainer as trainer;
