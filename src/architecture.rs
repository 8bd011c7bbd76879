//! Module-boundary rules of the crate, checked by reading the source text (see lib.rs docs).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable src").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

fn code(path: &Path) -> String {
    // Doc and line comments may name anything; only code counts.
    std::fs::read_to_string(path)
        .expect("readable source")
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

#[test]
fn leaf_modules_know_no_burn() {
    let mut leaves: Vec<PathBuf> = ["src/algo/config.rs", "src/algo/error.rs", "src/algo/reference.rs", "src/error.rs"]
        .iter()
        .map(|leaf| root().join(leaf))
        .collect();
    for dir in ["src/tools", "src/data", "src/reward", "src/env"] {
        leaves.extend(rust_files(&root().join(dir)));
    }
    for leaf in leaves {
        let text = code(&leaf);
        assert!(!text.contains("burn"), "{} is layer 0 and must not use burn", relative(&leaf));
    }
}

#[test]
fn kernels_take_plain_params_not_algorithm_types() {
    for file in rust_files(&root().join("src/kernels")) {
        let text = code(&file);
        assert!(!text.contains("crate::algo"), "{} must not import the algorithm layer", relative(&file));
    }
}

#[test]
fn only_source_rs_loads_shaders_and_only_device_rs_names_backends() {
    for file in rust_files(&root().join("src")) {
        let name = relative(&file);
        if name == "src/architecture.rs" {
            continue; // the rules' own string literals
        }
        let text = code(&file);
        if name != "src/kernels/source.rs" {
            // Other files may embed other assets (the BFCL simulator script), never a shader.
            let embeds_shader = text
                .split("include_str!(")
                .skip(1)
                .any(|rest| rest.split(')').next().is_some_and(|arg| arg.contains(".wgsl") || arg.contains("shaders")));
            assert!(!embeds_shader, "{name} loads a shader; shaders go through kernels/source.rs");
        }
        if name != "src/device.rs" {
            for ctor in ["Device::wgpu(", "Device::flex(", "Device::cuda(", "Device::vulkan("] {
                assert!(!text.contains(ctor), "{name} names a backend ({ctor}); use device::select");
            }
        }
    }
}

#[test]
fn shaders_holds_only_wgsl() {
    for entry in std::fs::read_dir(root().join("shaders")).expect("shaders/").flatten() {
        let path = entry.path();
        assert!(path.extension().is_some_and(|e| e == "wgsl"), "{} is not WGSL", relative(&path));
    }
}

#[test]
fn source_files_stay_small() {
    for file in rust_files(&root().join("src")) {
        let lines = std::fs::read_to_string(&file).map(|t| t.lines().count()).unwrap_or(0);
        assert!(lines <= 500, "{} has {lines} lines (aim < 500; split by responsibility)", relative(&file));
    }
}
