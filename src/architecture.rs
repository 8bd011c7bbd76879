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

/// The crate's layers, lowest first: a module may use only modules of lower layers (the list in
/// lib.rs's docs). A new top-level module must be placed here.
const LAYERS: &[&[&str]] = &[
    &["chat", "data", "device", "kernels", "reduce", "stats", "tools"],
    &["algo", "corpus", "env", "model", "reward"],
    &["tokenizer"],
    &["prompt", "rollout", "synth"],
    &["judge"],
    &["config"],
    &["eval", "train"],
    &["error"],
    &["selfcheck"],
    &["cli"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is not in architecture.rs LAYERS: place it in a layer"))
}

/// The top-level modules a piece of code names: `crate::x`, and each name of `crate::{x, y::z}`.
fn named_modules(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rest in code.split("crate::").skip(1) {
        let group = rest.strip_prefix('{').map(|g| g.split('}').next().unwrap_or(""));
        let items: Vec<&str> = match group {
            Some(g) => g.split(',').collect(),
            None => vec![rest],
        };
        for item in items {
            let name: String = item.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != "self" {
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn imports_only_go_down() {
    let lib = code(&root().join("src/lib.rs"));
    for line in lib.lines().filter_map(|l| l.trim().strip_prefix("pub mod ")) {
        layer(line.trim_end_matches(';'));
    }
    for file in rust_files(&root().join("src")) {
        let name = relative(&file);
        let Some(module) = name.strip_prefix("src/").and_then(|r| r.split(['/', '.']).next()) else { continue };
        if ["lib", "main", "architecture"].contains(&module) {
            continue;
        }
        for used in named_modules(&code(&file)) {
            if used != module {
                assert!(
                    layer(&used) < layer(module),
                    "{name}: `{module}` (layer {}) uses `{used}` (layer {}); imports only go down",
                    layer(module),
                    layer(&used)
                );
            }
        }
    }
}

#[test]
fn the_layer_check_reads_grouped_imports() {
    let names = named_modules("use crate::{model::CausalLm, train};\nlet x = crate::algo::loss(y);");
    assert_eq!(names, ["model", "train", "algo"]);
}

#[test]
fn leaf_modules_know_no_burn() {
    let mut leaves: Vec<PathBuf> = [
        "src/algo/config.rs",
        "src/algo/error.rs",
        "src/algo/reference.rs",
        "src/synth/mod.rs",
        "src/synth/multi_turn.rs",
    ]
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
