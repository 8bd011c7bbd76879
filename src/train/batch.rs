//! Token batches for the loss: rows `prompt ++ response`, right-padded to `T`; the per-token
//! tensors are `[B, T - 1]` because position `t` scores token `t + 1` (teacher forcing), and only
//! response tokens carry weight.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// One row: prompt ids, response ids, and per-response-token values (old log-probs).
pub struct Row<'a> {
    /// Prompt ids (never trained on).
    pub prompt: &'a [u32],
    /// Response ids.
    pub response: &'a [u32],
    /// A value per response token (sampling log-probs; zeros when unused).
    pub values: &'a [f64],
}

/// Device tensors of a batch.
pub struct Batch {
    /// Ids `[B, T]`.
    pub tokens: Tensor<2, Int>,
    /// Attention mask `[B, T]` (1 = token).
    pub attention: Tensor<2, Int>,
    /// 1 where position `t` scores a response token `[B, T - 1]`.
    pub mask: Tensor<2>,
    /// Row values at the scored positions `[B, T - 1]`.
    pub values: Tensor<2>,
    /// Response tokens in the batch.
    pub response_tokens: usize,
}

/// Builds the batch on `device`. Rows must have a non-empty prompt and response.
pub fn build(rows: &[Row<'_>], device: &Device) -> Batch {
    let t = rows.iter().map(|r| r.prompt.len() + r.response.len()).max().unwrap_or(2).max(2);
    let b = rows.len();
    let mut ids = vec![0i64; b * t];
    let mut attention = vec![0i64; b * t];
    let mut mask = vec![0f32; b * (t - 1)];
    let mut values = vec![0f32; b * (t - 1)];
    let mut response_tokens = 0;
    for (r, row) in rows.iter().enumerate() {
        let p = row.prompt.len();
        for (c, &tok) in row.prompt.iter().chain(row.response).enumerate() {
            ids[r * t + c] = i64::from(tok);
            attention[r * t + c] = 1;
        }
        for (j, v) in (0..row.response.len()).zip(row.values.iter().chain(std::iter::repeat(&0.0))) {
            // Response token j sits at p + j and is scored at position p + j - 1.
            let at = r * (t - 1) + p + j - 1;
            mask[at] = 1.0;
            values[at] = *v as f32;
        }
        response_tokens += row.response.len();
    }
    Batch {
        tokens: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        attention: Tensor::from_data(TensorData::new(attention, [b, t]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, t - 1]), device),
        values: Tensor::from_data(TensorData::new(values, [b, t - 1]), device),
        response_tokens,
    }
}
