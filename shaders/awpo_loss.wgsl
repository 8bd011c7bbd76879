// AWPO token loss, forward row pass (spec: src/algo/reference.rs `token_term`).
// src/kernels/source.rs prepends shaders/loss_params.wgsl (Params) and workgroup_sum.wgsl (WG, workgroup_sum, non_finite).
//
// One workgroup per row b = wid.x + wid.y * params.rows_per_x (2-D grid). For every token t with
// mask 1: r = exp(logp - old_logp); loss_t = -min(r*A, clamp(r, 1-eps_low, 1+eps_high)*A)
// (+ beta * k3 KL to the reference); dl[b, t] = d loss_t / d logp (0 where clipped or masked).
// The row's sums go to `rows`; awpo_loss_reduce.wgsl aggregates them. Non-finite inputs on
// masked tokens and mask values other than 0/1 are counted (bit-pattern test), never propagated:
// masked-out tokens contribute through `select`, so garbage there cannot poison the loss.
//
// Bindings (positional, see src/kernels/awpo_loss.rs)
//   (the read/write column is what the kernel does; every binding is declared read_write
//   because cubecl may place several tensors in one buffer)
//   0 logp     : [B, T] f32                                                              read
//   1 old_logp : [B, T] f32                                                              read
//   2 ref_logp : [B, T] f32 (a 1-element dummy when use_ref = 0)                        read
//   3 adv      : [B]    f32                                                              read
//   4 mask     : [B, T] f32 (0 or 1)                                                     read
//   5 params   : Params                                                                  read
//   6 dl       : [B, T] f32 unscaled d loss_t / d logp                                  write
//   7 rows     : [B, 8] f32 (loss_sum, tokens, kl_sum, ratio_sum, clip_low, clip_high,
//                            bad, approx_kl_sum)                                         write

@group(0) @binding(0) var<storage, read_write> logp: array<f32>;
@group(0) @binding(1) var<storage, read_write> old_logp: array<f32>;
@group(0) @binding(2) var<storage, read_write> ref_logp: array<f32>;
@group(0) @binding(3) var<storage, read_write> adv: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<f32>;
@group(0) @binding(5) var<storage, read_write> params: Params;
@group(0) @binding(6) var<storage, read_write> dl: array<f32>;
@group(0) @binding(7) var<storage, read_write> rows: array<f32>;

var<workgroup> shared_params: Params;

@compute @workgroup_size({{ workgroup_size }})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    // read_write storage is not uniform: see group_advantage.wgsl.
    if lid == 0u {
        shared_params = params;
    }
    let u = workgroupUniformLoad(&shared_params);
    let row = wid.x + wid.y * u.rows_per_x;
    if row >= u.rows {
        return;
    }
    let a = adv[row];
    let lo = 1.0 - params.eps_low;
    let hi = 1.0 + params.eps_high;
    // (loss, tokens, kl, ratio) and (clip_low, clip_high, bad, approx_kl)
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0, 0.0, select(0.0, 1.0, lid == 0u && non_finite(a)), 0.0);
    for (var t = lid; t < params.cols; t += WG) {
        let i = row * params.cols + t;
        let m = mask[i];
        let on = m == 1.0;
        acc1.z += select(0.0, 1.0, m != 0.0 && !on);
        var g = 0.0;
        if on {
            let lp = logp[i];
            let olp = old_logp[i];
            var bad = non_finite(lp) || non_finite(olp);
            let log_ratio = lp - olp;
            let r = exp(log_ratio);
            let clip_high = a > 0.0 && r > hi;
            let clip_low = a < 0.0 && r < lo;
            var loss = -min(r * a, clamp(r, lo, hi) * a);
            g = select(-a * r, 0.0, clip_high || clip_low);
            var kl = 0.0;
            if params.use_ref == 1u {
                let rlp = ref_logp[i];
                bad = bad || non_finite(rlp);
                let x = rlp - lp;
                kl = exp(x) - x - 1.0;
                loss += params.beta * kl;
                g += params.beta * (1.0 - exp(x));
            }
            acc0 += vec4<f32>(loss, 1.0, kl, r);
            acc1 += vec4<f32>(
                select(0.0, 1.0, clip_low),
                select(0.0, 1.0, clip_high),
                select(0.0, 1.0, bad),
                r - 1.0 - log_ratio,
            );
        }
        dl[i] = g;
    }
    let s0 = workgroup_sum(lid, acc0);
    let s1 = workgroup_sum(lid, acc1);
    if lid == 0u {
        let o = 8u * row;
        rows[o] = s0.x;
        rows[o + 1u] = s0.y;
        rows[o + 2u] = s0.z;
        rows[o + 3u] = s0.w;
        rows[o + 4u] = s1.x;
        rows[o + 5u] = s1.y;
        rows[o + 6u] = s1.z;
        rows[o + 7u] = s1.w;
    }
}
