//! HF reference fixtures (`tests/fixtures/models`) and the parity check shared by the CPU and
//! wgpu test binaries.

use std::path::{Path, PathBuf};

use awpo::model::logprob::token_stats;
use awpo::model::{Adapter, CausalLm};
use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::SafeTensors;

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models").join(name)
}

/// The reference tensors of a fixture directory.
pub struct Reference {
    pub ids: Vec<i64>,
    pub mask: Vec<i64>,
    pub shape: [usize; 2],
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl Reference {
    pub fn load(dir: &Path) -> Self {
        let bytes = std::fs::read(dir.join("reference.safetensors")).expect("reference.safetensors");
        let st = SafeTensors::deserialize(&bytes).expect("safetensors");
        let ints = |name: &str| -> Vec<i64> {
            let v = st.tensor(name).expect(name);
            v.data().chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
        };
        let shape = st.tensor("input_ids").expect("ids").shape().to_vec();
        let mut tensors = Vec::new();
        for name in st.names() {
            let v = st.tensor(name).expect(name);
            if v.dtype() == safetensors::Dtype::F32 {
                let data =
                    v.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
                tensors.push((name.to_string(), v.shape().to_vec(), data));
            }
        }
        Reference { ids: ints("input_ids"), mask: ints("attention_mask"), shape: [shape[0], shape[1]], tensors }
    }

    pub fn get(&self, name: &str) -> &[f32] {
        &self.tensors.iter().find(|(n, _, _)| n == name).unwrap_or_else(|| panic!("no {name}")).2
    }

    pub fn inputs(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2, Int>) {
        let t = |v: &Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v.clone(), self.shape), device);
        (t(&self.ids), t(&self.mask))
    }

    /// Largest |ours - reference| over positions where `mask` is 1 (`per_pos` values each).
    pub fn max_err(&self, ours: &[f32], name: &str, per_pos: usize, positions_mask: &[i64]) -> f32 {
        let reference = self.get(name);
        assert_eq!(ours.len(), reference.len(), "{name}: length");
        assert!(ours.iter().all(|x| x.is_finite()), "{name}: non-finite output");
        let mut worst = 0.0f32;
        for (pos, keep) in positions_mask.iter().enumerate() {
            if *keep == 1 {
                for i in pos * per_pos..(pos + 1) * per_pos {
                    worst = worst.max((ours[i] - reference[i]).abs());
                }
            }
        }
        worst
    }
}

pub fn values<const N: usize>(t: Tensor<N>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32")
}

/// Logit and log-prob parity of one fixture on `device`; returns the max logit error.
pub fn parity(name: &str, device: &Device) -> f32 {
    parity_as(name, device, awpo::model::Precision::F32, 1e-4)
}

/// [`parity`] with the base stored in `precision`, every error under `tol`.
pub fn parity_as(name: &str, device: &Device, precision: awpo::model::Precision, tol: f32) -> f32 {
    let dir = fixture(name);
    let model = CausalLm::load_as(&dir, precision, device).unwrap_or_else(|e| panic!("{e}"));
    let reference = Reference::load(&dir);
    let (ids, mask) = reference.inputs(device);
    let v = model.config().vocab_size;
    let logits = values(model.forward(ids.clone(), mask.clone(), Adapter::On).expect("forward"));
    let err = reference.max_err(&logits, "logits", v, &reference.mask);
    let stats = token_stats(&model, ids, mask, Adapter::On, 4).expect("token stats");
    let [b, t] = reference.shape;
    let target_mask: Vec<i64> =
        (0..b).flat_map(|r| (1..t).map(move |c| (r, c))).map(|(r, c)| reference.mask[r * t + c]).collect();
    let lp = reference.max_err(&values(stats.logprobs), "logprobs", 1, &target_mask);
    let ent = reference.max_err(&values(stats.entropy), "entropy", 1, &target_mask);
    let p = precision.name();
    eprintln!("{name} ({p}): max |logit err| {err:.2e}, logprob {lp:.2e}, entropy {ent:.2e}");
    assert!(err < tol && lp < tol && ent < tol, "{name} ({p}): logits {err}, logprobs {lp}, entropy {ent} (tol {tol})");
    err
}
