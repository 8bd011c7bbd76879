// AWPO token loss, forward reduction: the per-row sums of awpo_loss.wgsl -> the aggregated loss,
// src/kernels/source.rs prepends shaders/loss_params.wgsl (Params) and workgroup_sum.wgsl (WG, workgroup_sum).
// its statistics and each row's aggregation weight (spec: src/algo/reference.rs `row_scales`).
//
// A single workgroup loops over all B rows twice (total token count first, then the weighted
// loss), so no reduction depends on the dispatch size. Aggregations (params.agg):
//   0 token-mean                  scale_b = 1 / N                 (N = all masked tokens)
//   1 seq-mean-token-mean         scale_b = 1 / (B * n_b)
//   2 seq-mean-token-sum-norm     scale_b = 1 / (B * norm_len)
// With params.given_norm = 1 this batch is one micro-batch of a larger one: N, B and n_b are the
// whole batch's (params.total_tokens, params.sequences, seq_tokens[b] = the tokens of row b's
// sequence), so the micro-batches' losses sum to the whole batch's.
//
// Bindings (positional, see src/kernels/awpo_loss.rs)
//   (the read/write column is what the kernel does; every binding is declared read_write
//   because cubecl may place several tensors in one buffer)
//   0 rows      : [B, 8] f32 from awpo_loss.wgsl                                        read
//   1 params    : Params (shaders/loss_params.wgsl)                                     read
//   2 out       : [8] f32 (loss, tokens, kl_ref, ratio_mean, clip_low_frac,
//                          clip_high_frac, bad, approx_kl)                              write
//   3 row_scale : [B] f32                                                               write
//   4 seq_tokens: [B] f32 tokens of each row's sequence (a 1-element dummy when
//                         given_norm = 0)                                              read

@group(0) @binding(0) var<storage, read_write> rows: array<f32>;
@group(0) @binding(1) var<storage, read_write> params: Params;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> row_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> seq_tokens: array<f32>;

fn scale(row: u32, n_row: f32, total: f32) -> f32 {
    if params.given_norm == 1u {
        if params.agg == 0u {
            return 1.0 / params.total_tokens;
        } else if params.agg == 1u {
            return 1.0 / (params.sequences * seq_tokens[row]);
        }
        return 1.0 / (params.sequences * params.norm_len);
    }
    let b = f32(params.rows);
    if params.agg == 0u {
        return 1.0 / total;
    } else if params.agg == 1u {
        return select(0.0, 1.0 / (b * n_row), n_row > 0.0);
    }
    return 1.0 / (b * params.norm_len);
}

@compute @workgroup_size({{ workgroup_size }})
fn main(@builtin(local_invocation_index) lid: u32) {
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    for (var b = lid; b < params.rows; b += WG) {
        let o = 8u * b;
        acc0 += vec4<f32>(0.0, rows[o + 1u], rows[o + 2u], rows[o + 3u]);
        acc1 += vec4<f32>(rows[o + 4u], rows[o + 5u], rows[o + 6u], rows[o + 7u]);
    }
    let s0 = workgroup_sum(lid, acc0);
    let s1 = workgroup_sum(lid, acc1);
    let total = max(s0.y, 1.0);

    var loss = vec4<f32>(0.0);
    for (var b = lid; b < params.rows; b += WG) {
        let w = scale(b, rows[8u * b + 1u], total);
        row_scale[b] = w;
        loss.x += w * rows[8u * b];
    }
    let l = workgroup_sum(lid, loss).x;
    if lid == 0u {
        out[0] = l;
        out[1] = s0.y;
        out[2] = s0.z / total;
        out[3] = s0.w / total;
        out[4] = s1.x / total;
        out[5] = s1.y / total;
        out[6] = s1.z;
        out[7] = s1.w / total;
    }
}
