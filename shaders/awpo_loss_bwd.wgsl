// AWPO token loss, backward: d out[0] / d logp[b, t] = upstream * row_scale[b] * dl[b, t].
// src/kernels/source.rs prepends shaders/loss_params.wgsl (Params).
//
// One invocation per token, on a 2-D grid of workgroups (index = (wid.x + wid.y *
// params.tokens_per_x) * WG + lid) so that B*T may exceed 65535 workgroups' worth of tokens.
// Only the gradient of out[0] (the loss) is read: the statistics out[1..8] are detached.
//
// Bindings (positional, see src/kernels/awpo_loss.rs)
//   (the read/write column is what the kernel does; every binding is declared read_write
//   because cubecl may place several tensors in one buffer)
//   0 dl        : [B, T] f32 unscaled d loss_t / d logp from awpo_loss.wgsl              read
//   1 row_scale : [B]    f32 from awpo_loss_reduce.wgsl                                  read
//   2 upstream  : [8]    f32 gradient of the forward output                              read
//   3 params    : Params (shaders/loss_params.wgsl)                                      read
//   4 grad      : [B, T] f32                                                             write

@group(0) @binding(0) var<storage, read_write> dl: array<f32>;
@group(0) @binding(1) var<storage, read_write> row_scale: array<f32>;
@group(0) @binding(2) var<storage, read_write> upstream: array<f32>;
@group(0) @binding(3) var<storage, read_write> params: Params;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

const WG: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let i = (wid.x + wid.y * params.tokens_per_x) * WG + lid;
    if i >= params.rows * params.cols {
        return;
    }
    grad[i] = upstream[0] * row_scale[i / params.cols] * dl[i];
}
