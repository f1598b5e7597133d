//! The floating-point type a model's weights are loaded in, as command lines and configs name it.

use std::fmt;
use std::str::FromStr;

use burn::tensor::DType;

use crate::error::{ModelError, Result};

/// Weight precision for loading and running a model: `f32` (the default), `bf16` or `f16`.
///
/// A 16-bit precision halves the memory of the weights (R1-Distill-Qwen-7B: 30.5 GB in f32,
/// 15.2 GB in bf16) at some cost in accuracy of the logits; sampling and evaluation read the
/// logits back in f32 either way.
///
/// ```
/// use o1p_model::Precision;
/// let p: Precision = "bf16".parse().unwrap();
/// assert_eq!((p, p.to_string()), (Precision::Bf16, "bf16".to_string()));
/// assert_eq!(p.dtype(), burn::tensor::DType::BF16);
/// assert!("f64".parse::<Precision>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// 32-bit floats.
    #[default]
    F32,
    /// bfloat16: f32's range, 8 bits of mantissa.
    Bf16,
    /// IEEE half precision.
    F16,
}

impl Precision {
    /// The Burn dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::Bf16 => DType::BF16,
            Precision::F16 => DType::F16,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        })
    }
}

impl FromStr for Precision {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            "f16" => Ok(Precision::F16),
            other => Err(ModelError::InvalidInput(format!(
                "unknown precision `{other}` (expected f32, bf16 or f16)"
            ))),
        }
    }
}
