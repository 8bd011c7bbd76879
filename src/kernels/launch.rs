//! Shared launch plumbing for the WGSL kernels on burn's cubecl backend (wgpu runtime).

use std::sync::atomic::{AtomicBool, Ordering};

use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate};
use burn::tensor::{DType, Shape};
use burn_cubecl::kernel::into_contiguous;
use cubecl::prelude::KernelId;
use cubecl::server::KernelArguments;
use cubecl::{CubeCount, CubeDim};

use super::source::{Shader, WORKGROUP_SIZE, render};

static POISON: AtomicBool = AtomicBool::new(false);

/// Fill every kernel output with NaN before launch (tests: an element a kernel forgets to write,
/// or a launch that silently fails, then cannot pass a comparison). Also `AWPO_POISON_OUTPUTS=1`.
pub fn set_poison_outputs(on: bool) {
    POISON.store(on, Ordering::SeqCst);
}

fn poison() -> bool {
    POISON.load(Ordering::SeqCst) || std::env::var_os("AWPO_POISON_OUTPUTS").is_some_and(|v| v == "1")
}

/// A kernel source: one shader, rendered at [`WORKGROUP_SIZE`].
#[derive(Debug)]
pub(crate) struct WgslKernel {
    shader: Shader,
}

impl KernelSource for WgslKernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(render(&self.shader, WORKGROUP_SIZE))
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info((self.shader.name, WORKGROUP_SIZE))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// A contiguous f32 copy of `tensor`.
pub(crate) fn input(tensor: CubeTensor) -> CubeTensor {
    assert_eq!(tensor.dtype, DType::F32, "the algorithm layer casts kernel inputs to f32");
    into_contiguous(tensor)
}

/// A new f32 output on the device of `like`, NaN-filled when poisoning is on.
pub(crate) fn output(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    let shape = shape.into();
    let n = shape.num_elements();
    let handle = if poison() {
        like.client.create_from_slice(bytemuck::cast_slice(&vec![f32::NAN; n]))
    } else {
        like.client.empty(n * DType::F32.size())
    };
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, DType::F32)
}

/// A small read-only buffer holding `value` (kernel parameters, dummies).
pub(crate) fn upload<T: bytemuck::Pod>(like: &CubeTensor, value: &[T]) -> CubeTensor {
    let handle = like.client.create_from_slice(bytemuck::cast_slice(value));
    let shape = Shape::from([std::mem::size_of_val(value) / 4]);
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, DType::F32)
}

/// Launches `shader` on a `(x, y)` grid with the tensors bound in order.
pub(crate) fn launch(shader: Shader, grid: (u32, u32), bindings: &[&CubeTensor]) {
    let client = bindings[0].client.clone();
    let buffers = bindings.iter().map(|t| t.handle.clone().binding()).collect();
    let kernel = SourceKernel::new(WgslKernel { shader }, CubeDim::new_1d(WORKGROUP_SIZE));
    client.launch(Box::new(kernel), CubeCount::Static(grid.0, grid.1, 1), KernelArguments::new().with_buffers(buffers));
}
