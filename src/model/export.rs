//! The base weights of a model as Hugging Face names and layouts (`[out, in]` projections), in
//! f32: what `weights::save` writes and `CausalLm::from_weights` reads back bit for bit.

use burn::tensor::Tensor;

use super::causal_lm::CausalLm;
use super::error::ModelError;
use super::layers::{LoraLinear, transpose};

fn values<const N: usize>(t: Tensor<N>) -> Result<Vec<f32>, ModelError> {
    Ok(crate::device::to_host(t, "a base weight")?)
}

type Named = Vec<super::weights::NamedTensor>;

fn linear(out: &mut Named, name: &str, l: &LoraLinear) -> Result<(), ModelError> {
    let [d_in, d_out] = l.dims();
    let weight = values(l.weight.val().cast(burn::tensor::FloatDType::F32))?;
    out.push((format!("{name}.weight"), vec![d_out, d_in], transpose(weight, d_in, d_out)));
    if let Some(b) = &l.bias {
        out.push((format!("{name}.bias"), vec![d_out], values(b.val())?));
    }
    Ok(())
}

/// Every base tensor (adapters excluded) by its checkpoint name.
///
/// # Errors
/// A device read-back failed.
pub fn base_tensors(model: &CausalLm) -> Result<Named, ModelError> {
    let mut out = Vec::new();
    out.push(("model.embed_tokens.weight".into(), model.embed_tokens.dims().to_vec(), model.embed_tokens.values()?));
    for (i, layer) in model.layers.iter().enumerate() {
        let p = format!("model.layers.{i}");
        let norm = |n: &super::layers::RmsNorm| -> Result<(Vec<usize>, Vec<f32>), ModelError> {
            Ok((n.weight.val().dims().to_vec(), values(n.weight.val())?))
        };
        let (s, w) = norm(&layer.input_layernorm)?;
        out.push((format!("{p}.input_layernorm.weight"), s, w));
        let (s, w) = norm(&layer.post_attention_layernorm)?;
        out.push((format!("{p}.post_attention_layernorm.weight"), s, w));
        let a = &layer.self_attn;
        for (n, q) in [("q_norm", &a.q_norm), ("k_norm", &a.k_norm)] {
            if let Some(q) = q {
                let (s, w) = norm(q)?;
                out.push((format!("{p}.self_attn.{n}.weight"), s, w));
            }
        }
    }
    for (name, l) in model.linear_layers() {
        linear(&mut out, &name, l)?;
    }
    out.push(("model.norm.weight".into(), model.norm.weight.val().dims().to_vec(), values(model.norm.weight.val())?));
    if let Some(head) = &model.lm_head {
        out.push(("lm_head.weight".into(), head.dims().to_vec(), head.values()?));
    }
    Ok(out)
}
