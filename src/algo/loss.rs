//! `(logp, old_logp, ref_logp, mask) [B, T]` and `adv [B]` → the aggregated AWPO loss `[1]`
//! (differentiable with respect to `logp`) and its statistics, by the WGSL kernels or by their
//! burn tensor-op twin (both ≡ `reference::awpo_loss`).

use burn::tensor::{DType, Tensor};

use super::config::{Aggregation, AlgoConfig, LossSpec};
use super::error::{LossTensor, ObjectiveError};
use super::reference::{self, LossStats, Normaliser};
use super::{read_f32, use_wgsl};
use crate::kernels::{LOSS_OUT_NAMES, LOSS_STATS, LossParams};
use crate::reduce::{sum_all, sum_rows};

/// One (micro-)batch of the loss. Rows are `B = P·G` rollouts, right-padded to `T` tokens.
#[derive(Clone, Debug)]
pub struct LossBatch {
    /// Current policy log-probs of the targets `[B, T]` (tracked when training).
    pub logp: Tensor<2>,
    /// Log-probs recorded at sampling time `[B, T]`.
    pub old_logp: Tensor<2>,
    /// Reference-policy log-probs `[B, T]`; required when `kl_beta > 0`.
    pub ref_logp: Option<Tensor<2>>,
    /// Advantage of each row `[B]`.
    pub adv: Tensor<1>,
    /// 1 on generated tokens, 0 on prompt, tool output and padding `[B, T]`.
    pub mask: Tensor<2>,
    /// The whole batch's normaliser when this is one micro-batch of it (its `seq_tokens` has
    /// one entry per row of this micro-batch); `None` = this batch alone.
    pub norm: Option<Normaliser>,
}

/// A whole-batch normaliser with its per-row token counts on the device.
#[derive(Clone, Debug)]
pub struct DeviceNorm {
    /// Sequences in the whole batch.
    pub sequences: f64,
    /// Generated tokens in the whole batch.
    pub tokens: f64,
    /// `seq-mean-token-sum-norm`'s length.
    pub norm_len: f64,
    /// Tokens of each row's sequence `[B]`.
    pub seq_tokens: Tensor<1>,
}

/// The kernel's parameter block for `spec` on `[B, T]`, under `norm` when given.
pub fn kernel_params(spec: &LossSpec, rows: usize, cols: usize, norm: Option<&DeviceNorm>) -> LossParams {
    let norm_len = spec.norm_len.map_or(cols as f32, |l| l as f32);
    LossParams {
        rows: rows as u32,
        cols: cols as u32,
        agg: match spec.agg {
            Aggregation::TokenMean => 0,
            Aggregation::SeqMeanTokenMean => 1,
            Aggregation::SeqMeanTokenSumNorm => 2,
        },
        use_ref: u32::from(spec.beta > 0.0),
        eps_low: spec.eps_low as f32,
        eps_high: spec.eps_high as f32,
        beta: spec.beta as f32,
        norm_len: norm.map_or(norm_len, |n| n.norm_len as f32),
        given_norm: u32::from(norm.is_some()),
        sequences: norm.map_or(0.0, |n| n.sequences as f32),
        total_tokens: norm.map_or(0.0, |n| n.tokens as f32),
        ..LossParams::default()
    }
}

fn check_dims(batch: &LossBatch, use_ref: bool) -> Result<[usize; 2], ObjectiveError> {
    let [b, t] = batch.logp.dims();
    if b == 0 || t == 0 {
        return Err(ObjectiveError::Empty { tensor: LossTensor::LogProb, shape: vec![b, t] });
    }
    let mut shapes = vec![
        (LossTensor::OldLogProb, batch.old_logp.dims().to_vec(), vec![b, t]),
        (LossTensor::Mask, batch.mask.dims().to_vec(), vec![b, t]),
        (LossTensor::Advantage, batch.adv.dims().to_vec(), vec![b]),
    ];
    if use_ref {
        let found = batch.ref_logp.as_ref().map_or(vec![], |r| r.dims().to_vec());
        shapes.push((LossTensor::RefLogProb, found, vec![b, t]));
    }
    match shapes.into_iter().find(|(_, found, expected)| found != expected) {
        Some((tensor, found, expected)) => Err(ObjectiveError::Shape { tensor, expected, found }),
        None => Ok([b, t]),
    }
}

/// The AWPO loss of `batch`: `[1]` (backward reaches `batch.logp`) and its statistics.
///
/// # Errors
/// Mismatched shapes, an empty batch, a non-finite input on a generated token or a non-finite
/// advantage (named by tensor, row and token), a mask value other than 0/1, a row without
/// generated tokens, a normaliser that cannot normalise, or `kernel = "wgsl"` on a device
/// without WGSL.
pub fn loss(batch: LossBatch, cfg: &AlgoConfig) -> Result<(Tensor<1>, LossStats), ObjectiveError> {
    let spec = cfg.loss_spec();
    let use_ref = spec.beta > 0.0;
    let [b, t] = check_dims(&batch, use_ref)?;
    if let Some(n) = &batch.norm {
        n.check(b)?;
    }
    let device = batch.logp.device();
    let norm = batch.norm.as_ref().map(|n| DeviceNorm {
        sequences: n.sequences,
        tokens: n.tokens,
        norm_len: n.norm_len,
        seq_tokens: Tensor::from_data(
            burn::tensor::TensorData::new(n.seq_tokens.iter().map(|&v| v as f32).collect(), [b]),
            &device,
        ),
    });
    let f32s = |x: Tensor<2>| x.cast(DType::F32);
    let batch = LossBatch {
        logp: f32s(batch.logp),
        old_logp: f32s(batch.old_logp),
        ref_logp: batch.ref_logp.filter(|_| use_ref).map(f32s),
        adv: batch.adv.cast(DType::F32),
        mask: f32s(batch.mask),
        norm: None,
    };
    let (out, rows) = if use_wgsl(cfg.kernel, &device)? {
        wgsl(batch.clone(), &spec, norm)
    } else {
        loss_tensor(batch.clone(), &spec, norm)
    };
    let table = read_f32(rows, "loss row sums")?;
    if let Some(row) = table.chunks(LOSS_STATS).position(|r| r[6] != 0.0 || r[1] == 0.0) {
        locate(&batch, row, t)?;
    }
    let s = read_f32(out.clone().detach(), "loss statistics")?;
    if let Some((i, &value)) = s.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        let what = LOSS_OUT_NAMES[i];
        return Err(ObjectiveError::Overflow { what, unit: "batch", index: 0, value });
    }
    let stats = LossStats {
        loss: f64::from(s[0]),
        tokens: f64::from(s[1]),
        kl_ref: f64::from(s[2]),
        ratio_mean: f64::from(s[3]),
        clip_low_frac: f64::from(s[4]),
        clip_high_frac: f64::from(s[5]),
        approx_kl: f64::from(s[7]),
    };
    debug_assert_eq!(table.len(), b * LOSS_STATS);
    Ok((out.narrow(0, 0, 1), stats))
}

/// Reads row `row` back and names its first bad value with the reference's own check.
fn locate(batch: &LossBatch, row: usize, t: usize) -> Result<(), ObjectiveError> {
    let row_of = |x: &Tensor<2>, what| read_f32(x.clone().detach().slice([row..row + 1, 0..t]), what);
    let logp = row_of(&batch.logp, "logp")?;
    let old = row_of(&batch.old_logp, "old_logp")?;
    let refs = match &batch.ref_logp {
        Some(r) => Some(row_of(r, "ref_logp")?),
        None => None,
    };
    let mask = row_of(&batch.mask, "mask")?;
    let adv = read_f32(batch.adv.clone().narrow(0, row, 1), "adv")?[0];
    reference::check_row(row, adv, &logp, &old, refs.as_deref(), &mask)
}

#[cfg(feature = "wgpu")]
fn wgsl(batch: LossBatch, spec: &LossSpec, norm: Option<DeviceNorm>) -> (Tensor<1>, Tensor<2>) {
    let [b, t] = batch.logp.dims();
    let device = batch.logp.device();
    let ref_logp = batch.ref_logp.unwrap_or_else(|| Tensor::zeros([1, 1], &device));
    let params = kernel_params(spec, b, t, norm.as_ref());
    let seq_tokens = norm.map_or_else(|| Tensor::zeros([1], &device), |n| n.seq_tokens);
    let inputs = crate::kernels::LossInputs {
        logp: batch.logp,
        old_logp: batch.old_logp,
        ref_logp,
        adv: batch.adv,
        mask: batch.mask,
        seq_tokens,
    };
    crate::kernels::awpo_loss(inputs, params)
}

#[cfg(not(feature = "wgpu"))]
fn wgsl(_: LossBatch, _: &LossSpec, _: Option<DeviceNorm>) -> (Tensor<1>, Tensor<2>) {
    unreachable!("use_wgsl is false without the wgpu feature")
}

/// The burn tensor-op twin of `shaders/awpo_loss*.wgsl`: `out [8]` (`out[0]` tracked) and the
/// per-row table `[B, 8]`, in the kernels' layouts, under the whole batch's normaliser `norm`
/// when given. Masked-out tokens are zeroed before any arithmetic so that garbage there cannot
/// reach the loss or the gradient.
pub fn loss_tensor(batch: LossBatch, spec: &LossSpec, norm: Option<DeviceNorm>) -> (Tensor<1>, Tensor<2>) {
    let [b, t] = batch.logp.dims();
    let on = batch.mask.clone().equal_elem(1.0);
    let off = on.clone().bool_not();
    let bad_mask = batch.mask.clone().not_equal_elem(0.0).bool_and(off.clone());
    let lp = batch.logp.mask_fill(off.clone(), 0.0);
    let olp = batch.old_logp.mask_fill(off.clone(), 0.0);
    let mut bad = lp.clone().detach().is_finite().bool_not().float() + olp.clone().is_finite().bool_not().float();
    let a = batch.adv.clone().reshape([b, 1]).expand([b, t]);
    let m = on.clone().float();
    let log_ratio = lp.clone() - olp;
    let r = log_ratio.clone().exp();
    let (lo, hi) = (1.0 - spec.eps_low, 1.0 + spec.eps_high);
    let surr = (r.clone() * a.clone()).min_pair(r.clone().clamp(lo, hi) * a.clone());
    let mut loss_t = surr.neg();
    let mut kl = m.zeros_like();
    if let (true, Some(ref_logp)) = (spec.beta > 0.0, batch.ref_logp) {
        let rlp = ref_logp.mask_fill(off.clone(), 0.0);
        bad = bad + rlp.clone().is_finite().bool_not().float();
        let x = rlp - lp;
        kl = x.clone().exp() - x - 1.0;
        loss_t = loss_t + kl.clone().mul_scalar(spec.beta);
    }
    let loss_t = loss_t * m.clone();
    let r = r.detach();
    let clip_high = a.clone().greater_elem(0.0).bool_and(r.clone().greater_elem(hi)).bool_and(on.clone());
    let clip_low = a.lower_elem(0.0).bool_and(r.clone().lower_elem(lo)).bool_and(on);
    let approx_kl = (r.clone() - 1.0 - log_ratio.detach()) * m.clone();
    let adv_bad = batch.adv.is_finite().bool_not().float();
    let bad_rows = sum_rows((bad * m.clone()).clamp(0.0, 1.0) + bad_mask.float()) + adv_bad;
    let counts = sum_rows(m.clone());
    let columns = [
        sum_rows(loss_t.clone().detach()),
        counts.clone(),
        sum_rows(kl.detach() * m.clone()),
        sum_rows(r * m),
        sum_rows(clip_low.float()),
        sum_rows(clip_high.float()),
        bad_rows,
        sum_rows(approx_kl),
    ];
    let table = Tensor::stack::<2>(columns.to_vec(), 1);
    let total = sum_all(counts.clone());
    let scale = row_scale(counts, total.clone(), spec, t, norm);
    let loss = sum_all(sum_rows(loss_t) * scale);
    let n = total.clone().clamp_min(1.0);
    let mean = |x: &Tensor<1>| sum_all(x.clone()) / n.clone();
    let out = Tensor::cat(
        vec![
            loss,
            total,
            mean(&columns[2]),
            mean(&columns[3]),
            mean(&columns[4]),
            mean(&columns[5]),
            sum_all(columns[6].clone()),
            mean(&columns[7]),
        ],
        0,
    );
    (out, table)
}

/// Aggregation weight per row `[B]` from the generated-token counts `[B]` and their total `[1]`,
/// or from the whole batch's normaliser (`reference::row_scales`).
fn row_scale(counts: Tensor<1>, total: Tensor<1>, spec: &LossSpec, cols: usize, norm: Option<DeviceNorm>) -> Tensor<1> {
    let [b] = counts.dims();
    if let Some(n) = norm {
        return match spec.agg {
            Aggregation::TokenMean => counts.ones_like().div_scalar(n.tokens),
            Aggregation::SeqMeanTokenMean => n.seq_tokens.mul_scalar(n.sequences).recip(),
            Aggregation::SeqMeanTokenSumNorm => counts.ones_like().div_scalar(n.sequences * n.norm_len),
        };
    }
    match spec.agg {
        Aggregation::TokenMean => total.clamp_min(1.0).recip().expand([b]),
        Aggregation::SeqMeanTokenMean => {
            let empty = counts.clone().equal_elem(0.0);
            counts.clamp_min(1.0).mul_scalar(b as f64).recip().mask_fill(empty, 0.0)
        }
        Aggregation::SeqMeanTokenSumNorm => {
            let norm = f64::from(spec.norm_len.unwrap_or(cols as u32));
            counts.ones_like().div_scalar(b as f64 * norm)
        }
    }
}
