//! The precision of the frozen base (`[model] dtype`): its projections and embeddings are stored
//! and multiplied in f32, f16 or bf16; everything else (norms, the residual stream, LoRA factors
//! and their optimiser state, logits, log-softmax, the loss) stays f32, with casts at the
//! boundary of each base matmul. Values are converted on the host, one tensor at a time, so a
//! load never holds a second full-size copy of the model.

use burn::module::{Param, ParamId};
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// `[model] dtype`: what the frozen base weights are stored and multiplied in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BaseDtype {
    /// The lowest precision the device computes well: bf16 where the backend has it (CUDA, and
    /// Vulkan/Metal drivers with bf16), f16 where the wgpu adapter has `SHADER_F16`, f32 on the
    /// CPU backend (which computes half precision through f32 conversions).
    #[default]
    Auto,
    /// 4 bytes per weight.
    F32,
    /// 2 bytes per weight, 10-bit mantissa, range ±65504.
    F16,
    /// 2 bytes per weight, 7-bit mantissa, f32's range.
    Bf16,
}

impl BaseDtype {
    /// The dtype the base runs in on `device` (`Auto` resolved).
    pub fn resolve(self, device: &Device) -> Precision {
        match self {
            BaseDtype::F32 => Precision::F32,
            BaseDtype::F16 => Precision::F16,
            BaseDtype::Bf16 => Precision::Bf16,
            BaseDtype::Auto if crate::device::is_cpu(device) => Precision::F32,
            BaseDtype::Auto if device.supports_dtype(DType::BF16) => Precision::Bf16,
            BaseDtype::Auto if device.supports_dtype(DType::F16) => Precision::F16,
            BaseDtype::Auto => Precision::F32,
        }
    }
}

/// A resolved base precision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32.
    #[default]
    F32,
    /// f16.
    F16,
    /// bf16.
    Bf16,
}

impl Precision {
    /// Bytes per stored weight.
    pub fn bytes(self) -> u64 {
        match self {
            Precision::F32 => 4,
            Precision::F16 | Precision::Bf16 => 2,
        }
    }

    /// burn's dtype.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
            Precision::Bf16 => DType::BF16,
        }
    }

    /// The name users write (`f32`, `f16`, `bf16`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Bf16 => "bf16",
        }
    }

    /// The precision of a stored tensor (f32 for any other float dtype).
    pub fn of(dtype: DType) -> Self {
        match dtype {
            DType::F16 => Precision::F16,
            DType::BF16 => Precision::Bf16,
            _ => Precision::F32,
        }
    }

    /// `values` of `shape` as host data in this precision (the f32 input is consumed, so the
    /// two copies overlap only while one tensor converts).
    pub fn data(self, values: Vec<f32>, shape: &[usize]) -> TensorData {
        match self {
            Precision::F32 => TensorData::new(values, shape.to_vec()),
            Precision::F16 => {
                TensorData::new(values.into_iter().map(half::f16::from_f32).collect::<Vec<_>>(), shape.to_vec())
            }
            Precision::Bf16 => {
                TensorData::new(values.into_iter().map(half::bf16::from_f32).collect::<Vec<_>>(), shape.to_vec())
            }
        }
    }

    /// A frozen parameter (no gradient) holding `values` of `shape` in this precision on `device`.
    pub fn frozen<const N: usize>(self, values: Vec<f32>, shape: [usize; N], device: &Device) -> Param<Tensor<N>> {
        let tensor = Tensor::<N>::from_data(self.data(values, &shape), (device, self.dtype()));
        Param::initialized(ParamId::new(), tensor.set_require_grad(false))
    }
}

/// `x` (f32) times the stored weight `w` `[in, out]` in `w`'s precision, returned in f32: the
/// cast at the boundary of a half-precision base (a no-op for an f32 base).
pub fn base_matmul<const N: usize>(x: Tensor<N>, w: Tensor<2>) -> Tensor<N> {
    let dtype = w.dtype();
    if dtype == DType::F32 {
        return burn::tensor::module::linear(x, w, None);
    }
    burn::tensor::module::linear(x.cast(dtype), w, None).cast(FloatDType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_data_rounds_each_value_to_the_nearest_half() {
        let values = vec![1.0f32, -2.5, 1.0e-3, 65504.0, 0.1234567];
        let f16 = Precision::F16.data(values.clone(), &[5]);
        assert_eq!(f16.dtype(), DType::F16);
        let back: Vec<half::f16> = f16.try_to_vec().expect("f16 values");
        for (b, v) in back.iter().zip(&values) {
            assert_eq!(*b, half::f16::from_f32(*v));
        }
        let bf16 = Precision::Bf16.data(values.clone(), &[5]);
        let back: Vec<half::bf16> = bf16.try_to_vec().expect("bf16 values");
        for (b, v) in back.iter().zip(&values) {
            assert_eq!(*b, half::bf16::from_f32(*v));
        }
        assert_eq!(Precision::of(DType::BF16), Precision::Bf16);
        assert_eq!((Precision::F16.bytes(), Precision::F32.bytes()), (2, 4));
    }
}
