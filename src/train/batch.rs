//! Token batches for the loss: each row is a conversation cut into segments, `context ++
//! response` each, right-padded to `T`; the per-token tensors are `[B, T - 1]` because position
//! `t` scores token `t + 1` (teacher forcing), and only response tokens carry weight.
//! [`pack`] joins the turns of one conversation into one row wherever a turn's prompt extends
//! the row so far, so an episode of several assistant messages costs one forward pass.

use burn::tensor::{Int, Tensor, TensorData};

use crate::model::{CausalLm, ModelError};

/// A stretch of a row: context ids (never trained on), then response ids with a value each.
#[derive(Clone, Copy)]
pub struct Segment<'a> {
    /// Context ids (a prompt, or the part of a later prompt the row does not hold yet).
    pub context: &'a [u32],
    /// Response ids (scored).
    pub response: &'a [u32],
    /// A value per response token (sampling log-probs; empty or short = zeros).
    pub values: &'a [f64],
}

/// One row: its segments in order. The first context must be non-empty.
pub struct Row<'a> {
    /// The segments.
    pub segments: Vec<Segment<'a>>,
}

impl<'a> Row<'a> {
    /// A row of one prompt and one response.
    pub fn single(prompt: &'a [u32], response: &'a [u32], values: &'a [f64]) -> Self {
        Row { segments: vec![Segment { context: prompt, response, values }] }
    }

    /// Ids in the row.
    pub fn len(&self) -> usize {
        self.segments.iter().map(|s| s.context.len() + s.response.len()).sum()
    }

    /// Whether the row holds no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Response tokens in the row.
    pub fn response_tokens(&self) -> usize {
        self.segments.iter().map(|s| s.response.len()).sum()
    }

    /// The row's ids in order.
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.segments.iter().flat_map(|s| s.context.iter().chain(s.response)).copied()
    }
}

/// Packs the turns of one conversation (each a segment whose context is its whole prompt) into
/// rows: a turn whose prompt starts with every id of the current row joins it, with the rest of
/// its prompt as context; any other turn starts a new row. Responses are never merged away.
pub fn pack<'a>(turns: impl IntoIterator<Item = Segment<'a>>) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = Vec::new();
    for turn in turns {
        if let Some(row) = rows.last_mut() {
            let held = row.len();
            if turn.context.len() > held && row.ids().zip(turn.context).all(|(a, &b)| a == b) {
                row.segments.push(Segment { context: &turn.context[held..], ..turn });
                continue;
            }
        }
        rows.push(Row { segments: vec![turn] });
    }
    rows
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

/// Builds the batch on `model`'s device. Every row must start with a non-empty context.
///
/// # Errors
/// A token id outside `model`'s vocabulary.
pub fn build(rows: &[Row<'_>], model: &CausalLm) -> Result<Batch, ModelError> {
    let device = &model.device();
    let t = rows.iter().map(Row::len).max().unwrap_or(2).max(2);
    let b = rows.len();
    let mut ids = vec![0i64; b * t];
    let mut attention = vec![0i64; b * t];
    let mut mask = vec![0f32; b * (t - 1)];
    let mut values = vec![0f32; b * (t - 1)];
    let mut response_tokens = 0;
    for (r, row) in rows.iter().enumerate() {
        for (c, tok) in row.ids().enumerate() {
            ids[r * t + c] = i64::from(tok);
            attention[r * t + c] = 1;
        }
        let mut at = 0;
        for s in &row.segments {
            at += s.context.len();
            for (j, v) in (0..s.response.len()).zip(s.values.iter().chain(std::iter::repeat(&0.0))) {
                // The token at `at + j` is scored at position `at + j - 1`.
                let k = r * (t - 1) + at + j - 1;
                mask[k] = 1.0;
                values[k] = *v as f32;
            }
            at += s.response.len();
        }
        response_tokens += row.response_tokens();
    }
    let flat: Vec<u32> = ids.iter().map(|&id| id as u32).collect();
    model.check_ids(&flat, t)?;
    Ok(Batch {
        tokens: Tensor::from_data(TensorData::new(ids, [b, t]), device),
        attention: Tensor::from_data(TensorData::new(attention, [b, t]), device),
        mask: Tensor::from_data(TensorData::new(mask, [b, t - 1]), device),
        values: Tensor::from_data(TensorData::new(values, [b, t - 1]), device),
        response_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{Backend, DeviceConfig, select};

    fn seg<'a>(context: &'a [u32], response: &'a [u32], values: &'a [f64]) -> Segment<'a> {
        Segment { context, response, values }
    }

    #[test]
    fn turns_that_extend_the_row_join_it_and_others_start_a_new_one() {
        let (p1, r1) = ([1, 2], [3, 4]);
        let p2 = [1, 2, 3, 4, 5, 6];
        let r2 = [7];
        let p3 = [1, 2, 9];
        let r3 = [8, 8];
        let rows = pack([seg(&p1, &r1, &[-0.5, -0.25]), seg(&p2, &r2, &[-1.0]), seg(&p3, &r3, &[])]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].ids().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(rows[0].segments[1].context, &[5, 6]);
        assert_eq!(rows[0].response_tokens(), 3);
        let device = select(&DeviceConfig { backend: Backend::Cpu, ..DeviceConfig::default() }).expect("cpu").device;
        let model = CausalLm::random(crate::train::builtin_policy::model_config(10), 1, &device).expect("model");
        let b = build(&rows, &model).expect("ids in the vocabulary");
        let small = CausalLm::random(crate::train::builtin_policy::model_config(9), 1, &device).expect("model");
        let err = build(&rows, &small).err().expect("id 9 is outside a vocabulary of 9").to_string();
        assert!(err.contains("token id 9 (row 1, position 2)"), "{err}");
        assert_eq!(b.response_tokens, 5);
        let mask: Vec<f32> = b.mask.into_data().convert::<f32>().try_into_vec::<f32>().expect("mask");
        let values: Vec<f32> = b.values.into_data().convert::<f32>().try_into_vec::<f32>().expect("values");
        // T = 7; row 0 scores ids 3, 4 (positions 1, 2) and 7 (position 5).
        assert_eq!(mask, vec![0., 1., 1., 0., 0., 1., 0., 0., 1., 1., 0., 0.]);
        assert_eq!(values[..6], [0.0, -0.5, -0.25, 0.0, 0.0, -1.0]);
        let tokens: Vec<i64> = b.tokens.into_data().convert::<i64>().try_into_vec::<i64>().expect("tokens");
        assert_eq!(tokens[7..], [1, 2, 9, 8, 8, 0, 0]);
    }
}
