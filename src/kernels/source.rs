//! The only loader of `shaders/*.wgsl`, and their template rendering (`{{ workgroup_size }}`).
//!
//! A kernel is its own file with one `main`, preceded by the helper files it names (there are no
//! includes in WGSL: they are prepended here, explicitly). What a launcher hands to the runtime
//! is exactly what [`render`] returns, so the naga test over [`ALL`] validates the text that runs.

/// Invocations per workgroup of every AWPO kernel (a power of two: the shared-memory sums halve).
pub const WORKGROUP_SIZE: u32 = 256;

/// One WGSL kernel file with one `main` entry point, and the helper files prepended to it.
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    /// File stem under `shaders/`.
    pub name: &'static str,
    /// The template text.
    pub template: &'static str,
    /// Helper texts placed before it, in order.
    pub helpers: &'static [&'static str],
}

macro_rules! wgsl {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $name, ".wgsl"))
    };
}

/// `shaders/workgroup_sum.wgsl`: `WG`, `workgroup_sum`, `non_finite`.
const WORKGROUP_SUM: &str = wgsl!("workgroup_sum");
/// `shaders/loss_params.wgsl`: the loss passes' `Params`.
const LOSS_PARAMS: &str = wgsl!("loss_params");

macro_rules! shader {
    ($name:literal $(, $helper:ident)*) => {
        Shader { name: $name, template: wgsl!($name), helpers: &[$($helper),*] }
    };
}

/// `shaders/group_advantage.wgsl`.
pub const GROUP_ADVANTAGE: Shader = shader!("group_advantage", WORKGROUP_SUM);
/// `shaders/awpo_loss.wgsl` (forward row pass).
pub const AWPO_LOSS: Shader = shader!("awpo_loss", LOSS_PARAMS, WORKGROUP_SUM);
/// `shaders/awpo_loss_reduce.wgsl` (forward aggregation).
pub const AWPO_LOSS_REDUCE: Shader = shader!("awpo_loss_reduce", LOSS_PARAMS, WORKGROUP_SUM);
/// `shaders/awpo_loss_bwd.wgsl` (backward).
pub const AWPO_LOSS_BWD: Shader = shader!("awpo_loss_bwd", LOSS_PARAMS);

/// Every shader, for validation.
pub const ALL: [Shader; 4] = [GROUP_ADVANTAGE, AWPO_LOSS, AWPO_LOSS_REDUCE, AWPO_LOSS_BWD];

/// The WGSL text of `shader` with its placeholders filled.
pub fn render(shader: &Shader, workgroup_size: u32) -> String {
    let mut text = String::new();
    for helper in shader.helpers.iter().chain([&shader.template]) {
        text.push_str(helper);
        text.push('\n');
    }
    text.replace("{{ workgroup_size }}", &workgroup_size.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_leaves_no_placeholder() {
        for shader in ALL {
            let text = render(&shader, WORKGROUP_SIZE);
            assert!(!text.contains("{{"), "{} keeps a placeholder", shader.name);
            assert!(text.contains("fn main("), "{} has no main", shader.name);
        }
    }
}
