//! The one place that knows which Burn backends exist.
//!
//! Everything else in the workspace takes a `burn::tensor::Device` and never names a backend.
//! Devices are built explicitly: `Device::default()` silently prefers wgpu whenever it is
//! compiled in, which would change a CPU user's numbers just by enabling a feature.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

use crate::error::{ModelError, Result};

/// A Burn backend this build can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Pure-Rust CPU backend; always available.
    #[default]
    Flex,
    /// wgpu (Vulkan, Metal, DX12; lavapipe on machines without a GPU). Feature `wgpu`.
    Wgpu,
    /// libtorch, CUDA device 0 when present, else CPU. Feature `tch`.
    Tch,
}

impl Backend {
    /// The backends compiled into this build.
    pub fn available() -> Vec<Backend> {
        let mut out = vec![Backend::Flex];
        if cfg!(feature = "wgpu") {
            out.push(Backend::Wgpu);
        }
        if cfg!(feature = "tch") {
            out.push(Backend::Tch);
        }
        out
    }

    /// The inference device of this backend.
    ///
    /// ```
    /// let device = o1p_model::Backend::Flex.device().unwrap();
    /// assert!(!device.is_autodiff());
    /// ```
    pub fn device(self) -> Result<Device> {
        match self {
            Backend::Flex => Ok(Device::flex()),
            Backend::Wgpu => wgpu_device(),
            Backend::Tch => tch_device(),
        }
    }

    /// The same device with automatic differentiation, for training.
    pub fn autodiff_device(self) -> Result<Device> {
        Ok(self.device()?.autodiff())
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice))
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device> {
    Err(not_compiled("wgpu"))
}

#[cfg(feature = "tch")]
#[allow(deprecated)] // burn-tch is deprecated upstream but is still the libtorch route
fn tch_device() -> Result<Device> {
    if std::env::var("O1P_TCH_CPU").is_ok() {
        return Ok(Device::libtorch());
    }
    if tch_cuda_available() {
        tracing::info!("tch backend: CUDA device 0");
        Ok(Device::libtorch_cuda(0))
    } else {
        // Say so: a CPU-only libtorch (or a missing driver) would otherwise make a GPU run
        // silently hundreds of times slower.
        tracing::warn!(
            "tch backend: libtorch sees no CUDA device, running on the CPU \
             (set O1P_TCH_CPU=1 to choose the CPU explicitly)"
        );
        Ok(Device::libtorch())
    }
}

#[cfg(feature = "tch")]
fn tch_cuda_available() -> bool {
    tch::Cuda::is_available()
}

#[cfg(not(feature = "tch"))]
fn tch_device() -> Result<Device> {
    Err(not_compiled("tch"))
}

#[allow(dead_code)]
fn not_compiled(name: &str) -> ModelError {
    ModelError::Backend {
        backend: name.into(),
        problem: format!("this build lacks the `{name}` feature (cargo ... --features {name})"),
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Flex => "flex",
            Backend::Wgpu => "wgpu",
            Backend::Tch => "tch",
        })
    }
}

impl FromStr for Backend {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "flex" | "cpu" => Ok(Backend::Flex),
            "wgpu" => Ok(Backend::Wgpu),
            "tch" | "libtorch" => Ok(Backend::Tch),
            other => Err(ModelError::Backend {
                backend: other.into(),
                problem: "unknown backend (expected flex, wgpu or tch)".into(),
            }),
        }
    }
}
