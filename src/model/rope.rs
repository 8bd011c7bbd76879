//! Rotary position embedding, HF's half-rotation convention: `x·cos + rotate_half(x)·sin` with
//! `rotate_half([x1, x2]) = [-x2, x1]`, frequencies `θ^(-2i/Dh)` and Llama-3 scaling. Tables are
//! computed in f64 on the host and uploaded once per call as `[B or 1, 1, T, Dh]`.

use std::f64::consts::PI;

use burn::tensor::{Device, Tensor, TensorData};

use super::config::{Llama3Scaling, ModelConfig};

/// Inverse frequencies `[Dh / 2]`, scaled as configured.
pub fn inv_freq(cfg: &ModelConfig) -> Vec<f64> {
    let half = cfg.head_dim / 2;
    let base: Vec<f64> = (0..half).map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f64 / cfg.head_dim as f64)).collect();
    match cfg.rope_scaling {
        None => base,
        Some(s) => base.into_iter().map(|f| llama3(f, &s)).collect(),
    }
}

/// `_compute_llama3_parameters`: low frequencies divided by `factor`, high ones kept, a smooth
/// blend between.
fn llama3(freq: f64, s: &Llama3Scaling) -> f64 {
    let low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    let high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    let wavelen = 2.0 * PI / freq;
    if wavelen < high_wavelen {
        freq
    } else if wavelen > low_wavelen {
        freq / s.factor
    } else {
        let smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor)
            / (s.high_freq_factor - s.low_freq_factor);
        (1.0 - smooth) * freq / s.factor + smooth * freq
    }
}

/// `cos` and `sin` tables `[1, 1, T, Dh]` for positions `offset..offset + T` (every row alike).
pub fn tables(cfg: &ModelConfig, offset: usize, len: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let positions: Vec<usize> = (offset..offset + len).collect();
    tables_at(cfg, &positions, [1, len], device)
}

/// `cos` and `sin` tables `[B, 1, T, Dh]` for per-row positions `positions` `[B, T]` (row-major):
/// rows of a ragged batch sit at different positions.
pub fn tables_at(
    cfg: &ModelConfig,
    positions: &[usize],
    [b, t]: [usize; 2],
    device: &Device,
) -> (Tensor<4>, Tensor<4>) {
    let freqs = inv_freq(cfg);
    let dh = cfg.head_dim;
    let (mut cos, mut sin) = (Vec::with_capacity(b * t * dh), Vec::with_capacity(b * t * dh));
    for &p in positions {
        for i in 0..dh {
            // HF rounds the angle to f32 before cos/sin.
            let angle = f64::from((p as f64 * freqs[i % (dh / 2)]) as f32);
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let t = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [b, 1, t, dh]), device);
    (t(cos), t(sin))
}

/// Applies the rotation to `x` `[B, H, T, Dh]` with tables `[B or 1, 1, T, Dh]`.
pub fn apply(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, h, t, dh] = x.dims();
    let half = dh / 2;
    let x1 = x.clone().narrow(3, 0, half);
    let x2 = x.clone().narrow(3, half, half);
    let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
    let cos = cos.clone().expand([b, h, t, dh]);
    let sin = sin.clone().expand([b, h, t, dh]);
    x * cos + rotated * sin
}
