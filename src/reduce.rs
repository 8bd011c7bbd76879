//! Sums that stay correct on wgpu: burn 0.22.1's reductions return silently wrong results when
//! their launch needs more than 65535 workgroups per dimension (e.g. `[2, 262144].sum_dim(1)`).
//! Every long burn-op reduction of this crate goes through here: the reduced axis is folded into
//! chunks of [`CHUNK`] (zero-padded) and summed chunk by chunk, so no single reduction is long.

use burn::tensor::Tensor;

/// Longest axis handed to one burn reduction.
pub const CHUNK: usize = 1024;
/// Most rows handed to one burn reduction.
pub const MAX_ROWS: usize = 16_384;

/// Row sums of `x [R, N]` → `[R]`, correct for any `N` on every backend.
pub fn sum_rows(x: Tensor<2>) -> Tensor<1> {
    let [rows, n] = x.dims();
    if rows > MAX_ROWS {
        let blocks = (0..rows)
            .step_by(MAX_ROWS)
            .map(|start| sum_rows(x.clone().slice([start..(start + MAX_ROWS).min(rows), 0..n])))
            .collect();
        return Tensor::cat(blocks, 0);
    }
    if n <= CHUNK {
        return x.sum_dim(1).reshape([rows]);
    }
    let chunks = n.div_ceil(CHUNK);
    let padded = if chunks * CHUNK == n {
        x
    } else {
        let pad = Tensor::zeros([rows, chunks * CHUNK - n], &x.device());
        Tensor::cat(vec![x, pad], 1)
    };
    // rows·chunks may exceed MAX_ROWS: the recursion's first branch splits it.
    let partial = sum_rows(padded.reshape([rows * chunks, CHUNK]));
    sum_rows(partial.reshape([rows, chunks]))
}

/// Sum of every element of `x [N]` → `[1]`.
pub fn sum_all(x: Tensor<1>) -> Tensor<1> {
    let [n] = x.dims();
    sum_rows(x.reshape([1, n]))
}
