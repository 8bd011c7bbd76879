// AWPO group-relative advantages (README "The algorithm"; spec in src/algo/reference.rs).
// src/kernels/source.rs prepends shaders/workgroup_sum.wgsl (WG, workgroup_sum, non_finite).
//
// One workgroup per prompt group p = wid.x + wid.y * params.groups_per_row (2-D grid, so P may
// exceed 65535). Four passes over the group's G samples, each closed by a shared-memory sum:
//   1. first means m1 of the outcome stream xo (= ro, or ro + lambda*rr in reward-sum mode) and rr;
//   2. the correction c = mean(x - m1) (corrected two-pass: deviations d = (x - m1) - c stay
//      relatively accurate even when a group's rewards differ by far less than their size);
//   3. population std from deviations snapped to 0 when |d| <= zero_tol;
//   4. Ao = do/den_o, Ar = dr/den_r, c = lambda*g*w*Ar (advantage mode), clipped to
//      +-c_max in a flat group (every snapped outcome deviation is 0, counted in pass 3) and to
//      +-kappa*|Ao| in any other group (0 for a sample at its group's mean), or left alone when
//      params.clip = 1 (the clip's ablation); A = Ao + c.
// Non-finite rewards are detected on their bit pattern (WGSL may assume no NaN) and counted.
//
// Bindings (positional, see src/kernels/group_advantage.rs)
//   (the read/write column is what the kernel does; every binding is declared read_write
//   because cubecl may place several tensors in one buffer)
//   0 rewards : [P, G, 2] f32 (outcome, reasoning)                                     read
//   1 params  : Params                                                                   read
//   2 adv     : [P, G]    f32                                                            write
//   3 stats   : [P, 8]    f32 (mu_o, sd_o, mu_r, sd_r, gate, weight, clip_frac, bad)     write

struct Params {
    groups: u32,
    group_size: u32,
    groups_per_row: u32,
    mix: u32,        // 0: advantage-level mixing, 1: reward sum
    scale: u32,      // 0: group std, 1: batch std, 2: none
    gate: u32,       // 0: soft, 1: hard, 2: off
    weighting: u32,  // 0: hard-first, 1: mid, 2: off
    clip: u32,       // 0: tailored, 1: off
    lambda: f32,
    kappa: f32,
    c_max: f32,
    eps: f32,
    sd_max: f32,
    tau: f32,
    tau_r: f32,
    zero_tol: f32,
}

@group(0) @binding(0) var<storage, read_write> rewards: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: Params;
@group(0) @binding(2) var<storage, read_write> adv: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

var<workgroup> shared_params: Params;

// (xo, xr) of sample `i` of the whole batch.
fn streams(i: u32) -> vec2<f32> {
    let ro = rewards[2u * i];
    let rr = rewards[2u * i + 1u];
    if params.mix == 1u {
        return vec2<f32>(ro + params.lambda * rr, rr);
    }
    return vec2<f32>(ro, rr);
}

fn snapped(x: vec2<f32>, first_mean: vec2<f32>, correction: vec2<f32>) -> vec2<f32> {
    let d = (x - first_mean) - correction;
    return select(d, vec2<f32>(0.0), abs(d) <= vec2<f32>(params.zero_tol));
}

// Population std of both streams over the whole batch (scale = batch).
fn batch_sd(lid: u32) -> vec2<f32> {
    let total = params.groups * params.group_size;
    let n = f32(total);
    var acc = vec4<f32>(0.0);
    for (var i = lid; i < total; i += WG) {
        acc += vec4<f32>(streams(i), 0.0, 0.0);
    }
    let mean = workgroup_sum(lid, acc).xy / n;
    acc = vec4<f32>(0.0);
    for (var i = lid; i < total; i += WG) {
        let d = streams(i) - mean;
        acc += vec4<f32>(d * d, 0.0, 0.0);
    }
    return sqrt(workgroup_sum(lid, acc).xy / n);
}

fn gate(sd: vec2<f32>) -> f32 {
    var g_o = 1.0;
    if params.gate == 0u {
        g_o = clamp(1.0 - sd.x / params.sd_max, 0.0, 1.0);
    } else if params.gate == 1u {
        g_o = select(0.0, 1.0, sd.x <= params.tau);
    }
    var g_r = 1.0;
    if params.tau_r > 0.0 {
        g_r = min(1.0, sd.y / params.tau_r);
    }
    return g_o * g_r;
}

fn weight(mu_o: f32) -> f32 {
    if params.weighting == 0u {
        return 1.0 - mu_o;
    } else if params.weighting == 1u {
        return 4.0 * mu_o * (1.0 - mu_o);
    }
    return 1.0;
}

@compute @workgroup_size({{ workgroup_size }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // Storage is read_write (cubecl sub-allocates tensors from shared buffers, so a read-only
    // binding could alias a written one), hence not uniform: broadcast the parameters that
    // steer control flow around barriers through workgroupUniformLoad.
    if lid == 0u {
        shared_params = params;
    }
    let u = workgroupUniformLoad(&shared_params);
    let p = wid.x + wid.y * u.groups_per_row;
    if p >= u.groups {
        return;
    }
    let size = params.group_size;
    let base = p * size;
    let n = f32(size);

    var acc = vec4<f32>(0.0);
    for (var i = lid; i < size; i += WG) {
        let ro = rewards[2u * (base + i)];
        let rr = rewards[2u * (base + i) + 1u];
        let bad = select(0.0, 1.0, non_finite(ro) || non_finite(rr));
        acc += vec4<f32>(streams(base + i), bad, 0.0);
    }
    let sums = workgroup_sum(lid, acc);
    let first_mean = sums.xy / n;

    acc = vec4<f32>(0.0);
    for (var i = lid; i < size; i += WG) {
        acc += vec4<f32>(streams(base + i) - first_mean, 0.0, 0.0);
    }
    let correction = workgroup_sum(lid, acc).xy / n;
    let mean = first_mean + correction;

    acc = vec4<f32>(0.0);
    for (var i = lid; i < size; i += WG) {
        let d = snapped(streams(base + i), first_mean, correction);
        acc += vec4<f32>(d * d, select(0.0, 1.0, d.x != 0.0), 0.0);
    }
    let spread = workgroup_sum(lid, acc);
    let sd = sqrt(spread.xy / n);
    let flat = spread.z == 0.0;

    var den = vec2<f32>(1.0);
    if u.scale == 0u {
        den = sd + vec2<f32>(params.eps);
    } else if u.scale == 1u {
        den = batch_sd(lid) + vec2<f32>(params.eps);
    }
    let g = gate(sd);
    let w = weight(mean.x);

    acc = vec4<f32>(0.0);
    for (var i = lid; i < size; i += WG) {
        let d = snapped(streams(base + i), first_mean, correction);
        let ao = d.x / den.x;
        var c = 0.0;
        if params.mix == 0u {
            c = params.lambda * g * w * (d.y / den.y);
        }
        let bound = select(params.kappa * abs(ao), params.c_max, flat);
        let clip = params.clip == 0u;
        acc.x += select(0.0, 1.0, clip && abs(c) > bound);
        adv[base + i] = ao + select(c, clamp(c, -bound, bound), clip);
    }
    let clipped = workgroup_sum(lid, acc).x;

    if lid == 0u {
        let s = 8u * p;
        stats[s] = mean.x;
        stats[s + 1u] = sd.x;
        stats[s + 2u] = mean.y;
        stats[s + 3u] = sd.y;
        stats[s + 4u] = g;
        stats[s + 5u] = w;
        stats[s + 6u] = clipped / n;
        stats[s + 7u] = sums.z;
    }
}
