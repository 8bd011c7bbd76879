//! Vocabulary-sized matrices `[V, D]` (the token embedding `model.embed_tokens.weight`, the LM
//! head `lm_head.weight`, both in Hugging Face's layout) stored as row tiles, each small enough
//! for one storage binding of the device the model runs on (wgpu caps a binding: 128 MiB on
//! lavapipe, so Qwen's 151936-row vocabulary needs several tiles). On devices without a cap
//! there is one tile. The embedding lookup and the logits run tile by tile.

use burn::module::{Module, Param, ParamId};
use burn::tensor::{Bool, DType, Device, FloatDType, Int, Tensor};

use super::error::ModelError;
use super::precision::{Precision, base_matmul};
use super::weights::{TensorSource, fits};

/// Rows up to which the logits run as `(W · hᵀ)ᵀ` (see [`VocabMatrix::tile_logits`]).
const FEW_ROWS: usize = 64;

/// A `[V, D]` matrix as row tiles `[V_i, D]` in the base precision (frozen).
#[derive(Module, Debug)]
pub struct VocabMatrix {
    /// The tiles, in row order.
    pub tiles: Vec<Param<Tensor<2>>>,
}

/// Most rows of a tile on wgpu: reductions over a longer axis (the logits' max and sum) hit
/// cubecl 0.11's silent wrong results past 65535 workgroups per dimension (see `crate::reduce`).
pub const WGPU_TILE_ROWS: usize = 1 << 16;

/// Rows per tile of a `[v, d]` matrix of `bytes`-byte values under a binding `limit` (wgpu;
/// also at most [`WGPU_TILE_ROWS`]), or all `v` rows where there is no limit.
///
/// # Errors
/// One row alone exceeds the limit.
pub fn rows_per_tile(what: &str, v: usize, d: usize, bytes: u64, limit: Option<u64>) -> Result<usize, ModelError> {
    let row = bytes * d as u64;
    fits(|| format!("one row of {what} [1, {d}]"), row, limit)?;
    Ok(match limit {
        Some(limit) => ((limit / row.max(1)) as usize).clamp(1, WGPU_TILE_ROWS).min(v.max(1)),
        None => v.max(1),
    })
}

/// Where `ids` `[N]` fall in the tile of rows `first..first + rows`: each id's row in the tile
/// (clamped into it) and whether it lies outside.
pub fn locate(ids: &Tensor<1, Int>, (first, rows): (usize, usize)) -> (Tensor<1, Int>, Tensor<1, Bool>) {
    let local = ids.clone().sub_scalar(first as i64).clamp(0, rows as i64 - 1);
    let outside = ids.clone().lower_elem(first as i64).bool_or(ids.clone().greater_equal_elem((first + rows) as i64));
    (local, outside)
}

impl VocabMatrix {
    /// Loads `name` `[v, d]` from `w` in `precision`, tiled for `limit` bytes per binding.
    ///
    /// # Errors
    /// Missing tensor, wrong shape, a row wider than the limit.
    pub fn load(
        w: &dyn TensorSource,
        name: &str,
        [v, d]: [usize; 2],
        precision: Precision,
        limit: Option<u64>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let rows = rows_per_tile(name, v, d, precision.bytes(), limit)?;
        let values = w.tensor(name, &[v, d])?;
        let tiles = if rows >= v {
            vec![precision.frozen(values, [v, d], device)]
        } else {
            values
                .chunks(rows * d)
                .map(|chunk| precision.frozen(chunk.to_vec(), [chunk.len() / d, d], device))
                .collect()
        };
        Ok(VocabMatrix { tiles })
    }

    /// `[V, D]`.
    pub fn dims(&self) -> [usize; 2] {
        let d = self.tiles.first().map_or(0, |t| t.val().dims()[1]);
        [self.tiles.iter().map(|t| t.val().dims()[0]).sum(), d]
    }

    /// The first row of each tile and its row count.
    pub fn spans(&self) -> Vec<(usize, usize)> {
        let mut start = 0;
        self.tiles
            .iter()
            .map(|t| {
                let rows = t.val().dims()[0];
                start += rows;
                (start - rows, rows)
            })
            .collect()
    }

    /// The rows `ids` `[N]` (each below `V`) as f32 `[N, D]`.
    pub fn embed(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        let [_, d] = self.dims();
        let n = ids.dims()[0];
        if let [tile] = self.tiles.as_slice() {
            return tile.val().select(0, ids).cast(FloatDType::F32);
        }
        let mut out = Tensor::<2>::zeros([n, d], &ids.device());
        for (tile, span) in self.tiles.iter().zip(self.spans()) {
            let (local, outside) = locate(&ids, span);
            let picked = tile.val().select(0, local).cast(FloatDType::F32);
            out = out + picked.mask_fill(outside.reshape([n, 1]).expand([n, d]), 0.0);
        }
        out
    }

    /// `hidden` `[.., D]` times tile `i` transposed: logits `[.., V_i]` in f32.
    pub fn tile_logits<const N: usize>(&self, i: usize, hidden: Tensor<N>) -> Tensor<N> {
        let dims = hidden.dims();
        let rows: usize = dims[..N - 1].iter().product();
        let tile = self.tiles[i].val();
        if rows > FEW_ROWS {
            return base_matmul(hidden, tile.transpose());
        }
        // Few rows (decoding): `(W · hᵀ)ᵀ` reads the tile in its own layout, ~3x faster than
        // `h · Wᵀ` on the CPU backend's GEMM at SmolLM2's head and 16 rows.
        let [v, d] = tile.dims();
        let dtype = tile.dtype();
        let ht = hidden.reshape([rows, d]).transpose();
        let ht = if dtype == DType::F32 { ht } else { ht.cast(dtype) };
        let out = tile.matmul(ht).transpose();
        let out = if dtype == DType::F32 { out } else { out.cast(FloatDType::F32) };
        let mut shape = dims;
        shape[N - 1] = v;
        out.reshape(shape)
    }

    /// Logits `[.., V]` of `hidden` `[.., D]`, in f32.
    pub fn logits<const N: usize>(&self, hidden: Tensor<N>) -> Tensor<N> {
        let parts: Vec<Tensor<N>> = (0..self.tiles.len()).map(|i| self.tile_logits(i, hidden.clone())).collect();
        if parts.len() == 1 { parts.into_iter().next().unwrap_or(hidden) } else { Tensor::cat(parts, N - 1) }
    }

    /// The same matrix in tiles of `rows` rows (the last one shorter), on the device: to check
    /// that tiling changes nothing on devices that need no tiles.
    pub fn retiled(&self, rows: usize) -> Self {
        let full = Tensor::cat(self.tiles.iter().map(Param::val).collect(), 0);
        let [v, _] = full.dims();
        let rows = rows.max(1);
        let tiles = (0..v)
            .step_by(rows)
            .map(|s| {
                Param::initialized(ParamId::new(), full.clone().narrow(0, s, rows.min(v - s)).set_require_grad(false))
            })
            .collect();
        VocabMatrix { tiles }
    }

    /// The matrix as f32 row-major values `[V, D]` (for export).
    ///
    /// # Errors
    /// A device read-back failed.
    pub fn values(&self) -> Result<Vec<f32>, ModelError> {
        let mut out = Vec::new();
        for t in &self.tiles {
            out.extend(crate::device::to_host(t.val().cast(FloatDType::F32), "a vocabulary tile")?);
        }
        Ok(out)
    }
}
