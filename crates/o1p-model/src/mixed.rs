//! Mixed precision: the forward and backward passes compute in bf16 or f16 while every trainable
//! parameter keeps an f32 master value, so an update far below 16-bit spacing (lr 2e-7 on a
//! weight of 0.02) still lands.
//!
//! [`to_mixed`] casts every frozen parameter to the compute dtype (stored once, in 16 bits) and
//! gives every trainable one Burn's reparameterization [`ComputeCast`]: the parameter stays f32
//! (the optimizer updates it and keeps its AdamW moments in f32), `Param::val` hands the
//! forward pass a 16-bit copy, and autodiff casts the gradient back to f32. LoRA factors stay
//! f32 as they are and are cast where the decoder uses them.
//!
//! ```
//! use burn::module::Module;
//! use burn::tensor::DType;
//! use o1p_model::{Backend, CausalLm, ModelConfig, Precision, mixed};
//!
//! let device = Backend::Flex.device().unwrap().autodiff();
//! let config = ModelConfig::qwen2(32, 16, 32, 2, 2, 1);
//! let model = CausalLm::random(&config, 7, &device);
//! let model = o1p_model::mixed::to_mixed(model, Precision::Bf16);
//! // The master stays f32; what the forward pass reads is bf16.
//! assert_eq!(model.model.norm.weight.base().dtype(), DType::F32);
//! assert_eq!(model.model.norm.weight.val().dtype(), DType::BF16);
//! ```

use burn::module::{Module, Param, Reparameterization, Reparameterizer};
use burn::tensor::{DType, FloatDType, Tensor};

use crate::decoder::CausalLm;
use crate::precision::Precision;

/// A trainable parameter's f32 master, read as its 16-bit copy.
#[derive(Module, Debug)]
pub struct ComputeCast {
    /// bf16 when true, f16 otherwise.
    pub bf16: bool,
}

impl ComputeCast {
    /// The dtype the parameter is read in.
    pub fn dtype(&self) -> FloatDType {
        if self.bf16 {
            FloatDType::BF16
        } else {
            FloatDType::F16
        }
    }
}

impl Reparameterization for ComputeCast {
    const NAME: &'static str = "compute_cast";

    fn apply<const D: usize>(&self, base: Tensor<D>) -> Tensor<D> {
        base.cast(self.dtype())
    }
}

/// Turns an f32 model, whose trainable parameters are already chosen (frozen ones do not
/// require gradients), into a mixed-precision one computing in `compute` (bf16 or f16;
/// `F32` returns the model as it is).
pub fn to_mixed(model: CausalLm, compute: Precision) -> CausalLm {
    if compute == Precision::F32 {
        return model;
    }
    model.apply_reparameterization(ToMixed {
        bf16: compute == Precision::Bf16,
        dtype: compute.dtype(),
    })
}

/// Casts every parameter's stored value to `dtype` and drops [`ComputeCast`] (for a model
/// that only runs forward, e.g. a merged copy sampled from: one dtype throughout).
pub fn cast_all(model: CausalLm, dtype: DType) -> CausalLm {
    struct CastAll(FloatDType);
    impl burn::module::ModuleMapper for CastAll {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let dtype = self.0;
            param.map(|t| t.cast(dtype))
        }
    }
    model.map(&mut CastAll(FloatDType::from(dtype)))
}

struct ToMixed {
    bf16: bool,
    dtype: DType,
}

impl Reparameterizer for ToMixed {
    type Reparam = ComputeCast;

    fn reparameterize<const D: usize>(
        &mut self,
        path: &str,
        param: Param<Tensor<D>>,
    ) -> (Param<Tensor<D>>, Option<ComputeCast>) {
        // LoRA factors live inside Burn's adapter, where a second reparameterization cannot
        // nest: they stay f32 and `decoder::project` casts them where they meet activations.
        if path.split('.').any(|part| part == "lora") {
            return (param, None);
        }
        if param.is_require_grad() {
            (param, Some(ComputeCast { bf16: self.bf16 }))
        } else {
            let dtype = FloatDType::from(self.dtype);
            (param.map(|t| t.cast(dtype)), None)
        }
    }
}
