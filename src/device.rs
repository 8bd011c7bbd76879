//! `[device]`: the only file that names backends. Picks a `burn::Device` at run time.
//!
//! `auto` prefers a hardware GPU through wgpu (Vulkan, Metal, DX12; not GL) and otherwise the pure-Rust
//! CPU backend: a software Vulkan adapter (lavapipe) is ~12x slower than the CPU backend and is
//! used only when asked for with `wgpu`. CUDA is used only when asked for (feature `cuda`).

use burn::tensor::{Device, DeviceKind, Tensor};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Which backend runs the tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// A hardware GPU through wgpu if there is one, else the CPU backend.
    #[default]
    Auto,
    /// wgpu (Vulkan / Metal / DX12; a software Vulkan adapter too); runs the WGSL kernels.
    Wgpu,
    /// burn's pure-Rust CPU backend (flex).
    Cpu,
    /// burn's CUDA backend (build with `--features cuda`).
    Cuda,
}

/// The `[device]` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceConfig {
    /// Backend choice.
    pub backend: Backend,
    /// CUDA device index.
    pub cuda_index: usize,
}

/// Why no device could be made.
#[derive(Debug, Error)]
pub enum DeviceError {
    /// `wgpu` asked for, but no adapter found.
    #[error(
        "device.backend = \"wgpu\" but no wgpu adapter was found (install a Vulkan driver, e.g. Debian's mesa-vulkan-drivers, or use --device cpu)"
    )]
    NoAdapter,
    /// A backend this binary was built without.
    #[error(
        "device.backend = \"{0}\" but this binary was built without the `{0}` feature (rebuild with --features {0})"
    )]
    NotCompiled(&'static str),
}

/// A device-to-host read that failed.
#[derive(Debug, Error)]
#[error("reading {what} back from the device failed: {reason}")]
pub struct ReadbackError {
    /// What was read.
    pub what: &'static str,
    /// burn's message.
    pub reason: String,
}

/// The values of a float tensor on the host, as f32: the crate's one device-to-host read (a
/// sync on a GPU); `what` names the tensor in the error.
///
/// # Errors
/// The device could not be read.
pub fn to_host<const D: usize>(tensor: Tensor<D>, what: &'static str) -> Result<Vec<f32>, ReadbackError> {
    HOST_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let fail = |e: &dyn std::fmt::Debug| ReadbackError { what, reason: format!("{e:?}") };
    let data = tensor.try_into_data_as::<f32>().map_err(|e| fail(&e))?;
    HOST_READ_BYTES.fetch_add(data.as_bytes().len() as u64, std::sync::atomic::Ordering::Relaxed);
    data.try_to_vec::<f32>().map_err(|e| fail(&e))
}

/// Reads from the device to the host so far, by [`to_host`] (each one waits for the device).
pub fn host_reads() -> u64 {
    HOST_READS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Bytes read from the device by [`to_host`] so far.
pub fn host_read_bytes() -> u64 {
    HOST_READ_BYTES.load(std::sync::atomic::Ordering::Relaxed)
}

static HOST_READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static HOST_READ_BYTES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A chosen device and how to describe it to a person.
#[derive(Clone, Debug)]
pub struct Selected {
    /// The burn device (without autodiff).
    pub device: Device,
    /// E.g. `wgpu: llvmpipe (LLVM 15.0.6, 256 bits) [Vulkan, Cpu]` or `cpu (flex)`.
    pub description: String,
}

/// Kind of wgpu adapter, as the selection cares about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adapter {
    /// Adapter name.
    pub name: String,
    /// Graphics API.
    pub api: String,
    /// wgpu's device type.
    pub kind: DeviceKind,
    /// Whether it is a real GPU (not a CPU/software adapter).
    pub hardware: bool,
    /// `max_storage_buffer_binding_size`: the most bytes one tensor may occupy.
    pub max_binding_bytes: u64,
    /// The shader compiler burn's wgpu runtime uses on it in this build.
    pub compiler: Compiler,
    /// f16 arithmetic in shaders (`SHADER_F16`).
    pub f16: bool,
    /// The driver offers cooperative-matrix (tensor-core) operations; only the SPIR-V compiler
    /// (feature `vulkan`) emits them.
    pub cooperative_matrix: bool,
}

/// A shader compiler of burn's wgpu runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// WGSL (feature `wgpu`): every adapter; no bf16, no tensor cores; runs awpo's WGSL kernels.
    Wgsl,
    /// SPIR-V (feature `vulkan`, Vulkan adapters): f16/bf16 where the driver has them, tensor
    /// cores through cooperative matrices.
    SpirV,
    /// MSL (feature `metal`, Metal adapters): f16/bf16, simdgroup matrices.
    Msl,
}

impl Compiler {
    /// The compiler this build uses for an adapter of graphics API `api` (wgpu's name).
    pub fn for_api(api: &str) -> Self {
        match api {
            "Vulkan" if cfg!(feature = "vulkan") => Compiler::SpirV,
            "Metal" if cfg!(feature = "metal") => Compiler::Msl,
            _ => Compiler::Wgsl,
        }
    }

    /// `wgsl`, `spir-v`, `msl`.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Wgsl => "wgsl",
            Compiler::SpirV => "spir-v",
            Compiler::Msl => "msl",
        }
    }
}

/// The wgpu adapters of this machine, hardware first.
#[cfg(feature = "wgpu")]
pub fn adapters() -> Vec<Adapter> {
    use cubecl::wgpu::wgpu;
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = wgpu::Backends::PRIMARY;
    let instance = wgpu::Instance::new(desc);
    let found = futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY));
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut out: Vec<Adapter> = found
        .iter()
        .map(|a| {
            let info = a.get_info();
            let type_name = format!("{:?}", info.device_type);
            let index = *seen.entry(type_name.clone()).and_modify(|i| *i += 1).or_insert(0);
            let (kind, hardware) = match info.device_type {
                wgpu::DeviceType::DiscreteGpu => (DeviceKind::DiscreteGpu(index), true),
                wgpu::DeviceType::IntegratedGpu => (DeviceKind::IntegratedGpu(index), true),
                wgpu::DeviceType::VirtualGpu => (DeviceKind::VirtualGpu(index), true),
                _ => (DeviceKind::Cpu, false),
            };
            let max_binding_bytes = a.limits().max_storage_buffer_binding_size;
            let api = format!("{:?}", info.backend);
            let features = a.features();
            Adapter {
                name: info.name,
                compiler: Compiler::for_api(&api),
                api,
                kind,
                hardware,
                max_binding_bytes,
                f16: features.contains(wgpu::Features::SHADER_F16),
                cooperative_matrix: features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX),
            }
        })
        .collect();
    out.sort_by_key(|a| !a.hardware);
    out
}

/// No wgpu in this build.
#[cfg(not(feature = "wgpu"))]
pub fn adapters() -> Vec<Adapter> {
    Vec::new()
}

/// The most bytes one tensor may occupy on `device`: on wgpu the
/// `max_storage_buffer_binding_size` of the adapter the device runs on (a larger tensor fails in
/// a background thread and leaves wrong results, so callers check first); `None` elsewhere.
pub fn binding_limit(device: &Device) -> Option<u64> {
    #[cfg(feature = "wgpu")]
    {
        use burn::backend::DispatchDevice;
        match device.as_dispatch().clone().inner() {
            DispatchDevice::Cube(cubecl::Device::Wgpu(wgpu)) => {
                // Enumerating adapters creates a wgpu instance: once per process, not per forward.
                limit_of(&wgpu.kind, known_adapters())
            }
            _ => None,
        }
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = device;
        None
    }
}

/// [`adapters`], enumerated once per process (each enumeration creates a wgpu instance).
#[cfg(feature = "wgpu")]
pub fn known_adapters() -> &'static [Adapter] {
    static ADAPTERS: std::sync::OnceLock<Vec<Adapter>> = std::sync::OnceLock::new();
    ADAPTERS.get_or_init(adapters)
}

/// The adapter a wgpu device `kind` names among `adapters`; `None` for wgpu's own default choice.
#[cfg(feature = "wgpu")]
fn adapter_of<'a>(kind: &cubecl::device::WgpuDeviceKind, adapters: &'a [Adapter]) -> Option<&'a Adapter> {
    use cubecl::device::WgpuDeviceKind as W;
    let wanted = match kind {
        W::DiscreteGpu(i) => Some(DeviceKind::DiscreteGpu(*i)),
        W::IntegratedGpu(i) => Some(DeviceKind::IntegratedGpu(*i)),
        W::VirtualGpu(i) => Some(DeviceKind::VirtualGpu(*i)),
        W::Cpu => Some(DeviceKind::Cpu),
        _ => None,
    };
    wanted.and_then(|k| adapters.iter().find(|a| a.kind == k))
}

/// The binding limit of the adapter `kind` names among `adapters`; for a kind that names none
/// (wgpu's own default choice), the smallest limit, which is safe on any of them.
#[cfg(feature = "wgpu")]
fn limit_of(kind: &cubecl::device::WgpuDeviceKind, adapters: &[Adapter]) -> Option<u64> {
    match adapter_of(kind, adapters) {
        Some(a) => Some(a.max_binding_bytes),
        None => adapters.iter().map(|a| a.max_binding_bytes).min(),
    }
}

/// The compiler burn's wgpu runtime uses for `device` in this build (`None` off wgpu); for
/// wgpu's own default choice, WGSL only when every adapter gets WGSL.
pub fn compiler(device: &Device) -> Option<Compiler> {
    #[cfg(feature = "wgpu")]
    {
        use burn::backend::DispatchDevice;
        match device.as_dispatch().clone().inner() {
            DispatchDevice::Cube(cubecl::Device::Wgpu(wgpu)) => {
                let all = known_adapters();
                Some(match adapter_of(&wgpu.kind, all) {
                    Some(a) => a.compiler,
                    None => all.iter().map(|a| a.compiler).find(|c| *c != Compiler::Wgsl).unwrap_or(Compiler::Wgsl),
                })
            }
            _ => None,
        }
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = device;
        None
    }
}

/// The memory a run on `device` can use, in bytes: the machine's available memory
/// (`MemAvailable`) on the CPU backend and on wgpu adapters that run on the CPU (lavapipe);
/// `None` on GPUs (wgpu cannot query a GPU's memory).
pub fn memory_available(device: &Device) -> Option<u64> {
    let on_host = is_cpu(device) || {
        #[cfg(feature = "wgpu")]
        {
            use burn::backend::DispatchDevice;
            matches!(
                device.as_dispatch().clone().inner(),
                DispatchDevice::Cube(cubecl::Device::Wgpu(w)) if matches!(w.kind, cubecl::device::WgpuDeviceKind::Cpu)
            ) || adapters().iter().all(|a| !a.hardware)
        }
        #[cfg(not(feature = "wgpu"))]
        {
            false
        }
    };
    if !on_host {
        return None;
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Whether `device` (with or without autodiff) is burn's CPU backend.
pub fn is_cpu(device: &Device) -> bool {
    use burn::backend::DispatchDevice;
    matches!(device.as_dispatch().clone().inner(), DispatchDevice::Flex(_))
}

fn wgpu_device(adapter: &Adapter) -> Result<Selected, DeviceError> {
    #[cfg(feature = "wgpu")]
    {
        let description = format!("wgpu: {} [{}, {:?}]", adapter.name, adapter.api, adapter.kind);
        Ok(Selected { device: Device::wgpu(adapter.kind.clone()), description })
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = adapter;
        Err(DeviceError::NotCompiled("wgpu"))
    }
}

fn cpu() -> Selected {
    Selected { device: Device::flex(), description: "cpu (burn-flex)".to_string() }
}

/// The device for `cfg`.
///
/// # Errors
/// `wgpu` without an adapter, or a backend this build lacks.
pub fn select(cfg: &DeviceConfig) -> Result<Selected, DeviceError> {
    match cfg.backend {
        Backend::Cpu => Ok(cpu()),
        Backend::Wgpu => {
            if !cfg!(feature = "wgpu") {
                return Err(DeviceError::NotCompiled("wgpu"));
            }
            adapters().first().map_or(Err(DeviceError::NoAdapter), wgpu_device)
        }
        Backend::Auto => match adapters().into_iter().find(|a| a.hardware) {
            Some(gpu) => wgpu_device(&gpu),
            None => Ok(cpu()),
        },
        Backend::Cuda => cuda(cfg.cuda_index),
    }
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Selected, DeviceError> {
    Ok(Selected { device: Device::cuda(index), description: format!("cuda:{index}") })
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Selected, DeviceError> {
    Err(DeviceError::NotCompiled("cuda"))
}

#[cfg(all(test, feature = "wgpu"))]
mod tests {
    use super::*;
    use cubecl::device::WgpuDeviceKind as W;

    #[test]
    fn the_binding_limit_is_the_selected_adapters() {
        let adapter = |kind: DeviceKind, hardware: bool, max_binding_bytes: u64| Adapter {
            name: format!("{kind:?}"),
            api: "Vulkan".into(),
            kind,
            hardware,
            max_binding_bytes,
            compiler: Compiler::for_api("Vulkan"),
            f16: false,
            cooperative_matrix: false,
        };
        // A real GPU next to an installed lavapipe (128 MiB per binding).
        let machine = [adapter(DeviceKind::DiscreteGpu(0), true, 4 << 30), adapter(DeviceKind::Cpu, false, 128 << 20)];
        assert_eq!(limit_of(&W::DiscreteGpu(0), &machine), Some(4 << 30));
        assert_eq!(limit_of(&W::Cpu, &machine), Some(128 << 20));
        assert_eq!(limit_of(&W::DefaultDevice, &machine), Some(128 << 20), "unknown: the safe minimum");
        assert_eq!(limit_of(&W::DiscreteGpu(0), &[]), None);
    }
}
