// Params of the three loss passes (awpo_loss, awpo_loss_reduce, awpo_loss_bwd), prepended by
// src/kernels/source.rs. Mirrors `kernels::params::LossParams` (#[repr(C)], 64 bytes).

struct Params {
    rows: u32,
    cols: u32,
    rows_per_x: u32,
    agg: u32,        // 0: token-mean, 1: seq-mean-token-mean, 2: seq-mean-token-sum-norm
    use_ref: u32,
    tokens_per_x: u32,
    given_norm: u32, // 1: the whole batch's normaliser (sequences, total_tokens, norm_len, seq_tokens)
    pad0: u32,
    eps_low: f32,
    eps_high: f32,
    beta: f32,
    norm_len: f32,
    sequences: f32,
    total_tokens: f32,
    pad1: u32,
    pad2: u32,
}
