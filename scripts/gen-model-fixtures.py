#!/usr/bin/env python3
"""Generate tiny Hugging Face reference fixtures for decoder logit-parity tests.

Writes tests/fixtures/models/ (relative to the repository root):

  llama_tied/                  LlamaForCausalLM, tie_word_embeddings=True
  llama_untied_rope_scaling/   LlamaForCausalLM, untied, Llama-3 rope_scaling, rope_theta 5e5
  qwen2_untied/                Qwen2ForCausalLM (q/k/v bias), untied
  qwen2_tied/                  Qwen2ForCausalLM (q/k/v bias), tied
  qwen3_tied/                  Qwen3ForCausalLM (q_norm/k_norm), tied
  qwen3_untied/                Qwen3ForCausalLM, untied
  qwen3_untied_sharded/        same weights as qwen3_untied, >= 2 shards + index.json
  qwen3_untied_bf16/           same weights as qwen3_untied, stored as bfloat16
  qwen3_untied_lora/           PEFT LoRA adapter for qwen3_untied (random A and B)
  PROVENANCE.json              versions, seed, tensor descriptions, regeneration command

Every model directory (and the adapter directory) holds reference.safetensors with
input_ids, attention_mask, logits, logprobs and entropy (see PROVENANCE.json).

All weights are rounded to bf16-representable float32 values, so a bf16 copy holds
exactly the same numbers.

Regenerate (from the repository root):
    /work/pyfx/bin/python scripts/gen-model-fixtures.py
"""

import json
import os
import platform
import shutil
import sys
from pathlib import Path

import torch

import peft
import safetensors
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

SEED = 20261122
REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_REL = Path("tests/fixtures/models")
REGEN_CMD = "/work/pyfx/bin/python scripts/gen-model-fixtures.py"

BATCH = 2
SEQ = 11
ROW1_REAL = 7
PAD_ID = 0
VOCAB = 96

WEIGHT_STD = 0.2
NORM_STD = 0.1
BIAS_STD = 0.1
LORA_STD = 0.2
LORA_R = 4
LORA_ALPHA = 8
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    rope_theta=10000.0,
    hidden_act="silu",
    dtype="float32",
    attn_implementation="eager",
)

LLAMA3_ROPE_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 16,
}


def model_specs():
    """(name, model class, config) in a fixed order; the index seeds the weights."""
    return [
        (
            "llama_tied",
            LlamaForCausalLM,
            LlamaConfig(**COMMON, tie_word_embeddings=True, attention_bias=False, mlp_bias=False),
        ),
        (
            "llama_untied_rope_scaling",
            LlamaForCausalLM,
            LlamaConfig(
                **{**COMMON, "rope_theta": 500000.0},
                tie_word_embeddings=False,
                attention_bias=False,
                mlp_bias=False,
                rope_scaling=dict(LLAMA3_ROPE_SCALING),
            ),
        ),
        (
            "qwen2_untied",
            Qwen2ForCausalLM,
            Qwen2Config(**COMMON, tie_word_embeddings=False, use_sliding_window=False),
        ),
        (
            "qwen2_tied",
            Qwen2ForCausalLM,
            Qwen2Config(**COMMON, tie_word_embeddings=True, use_sliding_window=False),
        ),
        (
            "qwen3_tied",
            Qwen3ForCausalLM,
            Qwen3Config(**COMMON, tie_word_embeddings=True, attention_bias=False, use_sliding_window=False),
        ),
        (
            "qwen3_untied",
            Qwen3ForCausalLM,
            Qwen3Config(**COMMON, tie_word_embeddings=False, attention_bias=False, use_sliding_window=False),
        ),
    ]


def bf16_round(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.bfloat16).to(torch.float32)


def is_norm_weight(name: str) -> bool:
    # input_layernorm, post_attention_layernorm, model.norm, q_norm, k_norm
    return name.endswith("norm.weight")


@torch.no_grad()
def init_weights(model: torch.nn.Module, gen: torch.Generator) -> None:
    # named_parameters() de-duplicates tied parameters (lm_head.weight is embed_tokens.weight).
    for name, p in model.named_parameters():
        if is_norm_weight(name):
            v = 1.0 + NORM_STD * torch.randn(p.shape, generator=gen)
        elif name.endswith(".bias"):
            v = BIAS_STD * torch.randn(p.shape, generator=gen)
        else:
            v = WEIGHT_STD * torch.randn(p.shape, generator=gen)
        p.copy_(bf16_round(v))


def make_inputs(gen: torch.Generator):
    # Real tokens are drawn from [1, 96) so that id 0 only ever appears as padding.
    ids = torch.randint(1, VOCAB, (BATCH, SEQ), generator=gen, dtype=torch.int64)
    mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
    ids[1, ROW1_REAL:] = PAD_ID
    mask[1, ROW1_REAL:] = 0
    return ids, mask


@torch.no_grad()
def forward_logits(model, ids, mask) -> torch.Tensor:
    model.eval()
    out = model(input_ids=ids, attention_mask=mask)
    return out.logits.to(torch.float32).contiguous()


def derived(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor):
    """Teacher-forced next-token logprobs and entropies, [B, T-1], zero where target is padding."""
    lg = logits[:, :-1].to(torch.float64)
    logp = torch.log_softmax(lg, dim=-1)
    tgt = ids[:, 1:]
    lp = logp.gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
    ent = -(logp.exp() * logp).sum(-1)
    valid = mask[:, 1:].bool()
    zero = torch.zeros((), dtype=torch.float64)
    lp = torch.where(valid, lp, zero)  # +0.0 (not -0.0) where the target is padding
    ent = torch.where(valid, ent, zero)
    return lp.to(torch.float32).contiguous(), ent.to(torch.float32).contiguous()


def write_reference(path: Path, ids, mask, logits, extra=None):
    lp, ent = derived(logits, ids, mask)
    tensors = {
        "input_ids": ids.contiguous(),
        "attention_mask": mask.contiguous(),
        "logits": logits,
        "logprobs": lp,
        "entropy": ent,
    }
    if extra:
        tensors.update({k: v.contiguous() for k, v in extra.items()})
    save_file(tensors, str(path / "reference.safetensors"), metadata={"seed": str(SEED)})


def masked_max_abs(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    m = mask.bool().unsqueeze(-1).expand_as(a)
    return (a - b).abs()[m].max().item()


def assert_bf16_exact(directory: Path) -> None:
    for f in sorted(directory.glob("*.safetensors")):
        if f.name == "reference.safetensors":
            continue
        for k, v in load_file(str(f)).items():
            if v.is_floating_point():
                v32 = v.to(torch.float32)
                assert torch.equal(v32, bf16_round(v32)), f"{f}:{k} is not bf16-representable"


def dir_size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def config_keys(directory: Path) -> dict:
    return json.loads((directory / "config.json").read_text())


def tensor_keys(directory: Path) -> dict:
    out = {}
    for f in sorted(directory.glob("*.safetensors")):
        if f.name == "reference.safetensors":
            continue
        with safe_open(str(f), "pt") as sf:
            out[f.name] = {k: list(sf.get_slice(k).get_shape()) for k in sorted(sf.keys())}
    return out


def main() -> None:
    os.chdir(REPO_ROOT)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    out = OUT_REL
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    # Inputs shared by every reference file.
    ids, mask = make_inputs(torch.Generator().manual_seed(SEED))

    results = {}
    models = {}
    for idx, (name, cls, cfg) in enumerate(model_specs()):
        cfg._attn_implementation = "eager"
        model = cls(cfg).to(torch.float32)
        init_weights(model, torch.Generator().manual_seed(SEED + 1 + idx))
        model.eval()
        d = out / name
        model.save_pretrained(str(d), safe_serialization=True)
        logits = forward_logits(model, ids, mask)
        write_reference(d, ids, mask, logits)
        models[name] = (model, logits)
        results[name] = {"class": cls.__name__, "weight_seed": SEED + 1 + idx}

    # qwen3_untied variants: sharded and bf16 copies of the very same weights.
    base_model, base_logits = models["qwen3_untied"]
    sharded = out / "qwen3_untied_sharded"
    base_model.save_pretrained(str(sharded), safe_serialization=True, max_shard_size="40KB")
    write_reference(sharded, ids, mask, base_logits)
    bf16_dir = out / "qwen3_untied_bf16"
    bf16_model = Qwen3ForCausalLM(base_model.config)
    bf16_model.load_state_dict(base_model.state_dict())
    bf16_model.to(torch.bfloat16).save_pretrained(str(bf16_dir), safe_serialization=True)
    write_reference(bf16_dir, ids, mask, base_logits)
    del bf16_model
    results["qwen3_untied_sharded"] = {"class": "Qwen3ForCausalLM", "same_weights_as": "qwen3_untied"}
    results["qwen3_untied_bf16"] = {"class": "Qwen3ForCausalLM", "same_weights_as": "qwen3_untied"}

    # LoRA adapter on qwen3_untied (base loaded back from disk, the way a user would).
    lora_dir = out / "qwen3_untied_lora"
    base_path = str(out / "qwen3_untied")
    lora_base = AutoModelForCausalLM.from_pretrained(
        base_path, dtype=torch.float32, attn_implementation="eager"
    )
    lcfg = LoraConfig(
        r=LORA_R,
        lora_alpha=LORA_ALPHA,
        lora_dropout=0.0,
        target_modules=list(LORA_TARGETS),
        bias="none",
        task_type="CAUSAL_LM",
    )
    pm = get_peft_model(lora_base, lcfg)
    gen = torch.Generator().manual_seed(SEED + 100)
    n_lora = 0
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(bf16_round(LORA_STD * torch.randn(p.shape, generator=gen)))
                n_lora += 1
    assert n_lora == 2 * len(LORA_TARGETS) * COMMON["num_hidden_layers"], n_lora
    pm.eval()
    pm.save_pretrained(str(lora_dir), safe_serialization=True)
    # PEFT stores target_modules as a set (order depends on PYTHONHASHSEED): sort it so reruns are
    # byte-identical. Drop PEFT's boilerplate model card.
    acfg_path = lora_dir / "adapter_config.json"
    acfg = json.loads(acfg_path.read_text())
    acfg["target_modules"] = sorted(acfg["target_modules"])
    acfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
    (lora_dir / "README.md").unlink(missing_ok=True)
    lora_logits = forward_logits(pm, ids, mask)
    with pm.disable_adapter():
        lora_base_logits = forward_logits(pm, ids, mask)
    write_reference(lora_dir, ids, mask, lora_logits, extra={"logits_base": lora_base_logits})
    results["qwen3_untied_lora"] = {"class": "PeftModel(Qwen3ForCausalLM)", "lora_seed": SEED + 100}

    # ---------------------------------------------------------------- sanity checks
    print("== sanity checks (max abs error over positions with attention_mask==1)")
    checks = {}
    for name in list(models) + ["qwen3_untied_sharded", "qwen3_untied_bf16"]:
        d = out / name
        assert_bf16_exact(d)
        m = AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float32, attn_implementation="eager")
        got = forward_logits(m, ids, mask)
        ref = load_file(str(d / "reference.safetensors"))
        err = masked_max_abs(got, ref["logits"], mask)
        err_all = (got - ref["logits"]).abs().max().item()
        lp, ent = derived(got, ids, mask)
        err_lp = (lp - ref["logprobs"]).abs().max().item()
        err_ent = (ent - ref["entropy"]).abs().max().item()
        print(f"  {name:28s} logits {err:.3e} (all positions {err_all:.3e})  logprobs {err_lp:.3e}  entropy {err_ent:.3e}")
        assert err == 0.0 and err_lp == 0.0 and err_ent == 0.0, name
        checks[name] = err
    for variant in ("qwen3_untied_sharded", "qwen3_untied_bf16"):
        a = load_file(str(out / variant / "reference.safetensors"))["logits"]
        diff = (a - base_logits).abs().max().item()
        print(f"  {variant} vs qwen3_untied logits: {diff:.3e}")
        assert diff == 0.0
    n_shards = len(list(sharded.glob("model-*.safetensors")))
    assert n_shards >= 2 and (sharded / "model.safetensors.index.json").exists(), n_shards
    print(f"  qwen3_untied_sharded: {n_shards} shards")
    with safe_open(str(bf16_dir / "model.safetensors"), "pt") as sf:
        dts = {sf.get_slice(k).get_dtype() for k in sf.keys()}
    assert dts == {"BF16"}, dts

    assert_bf16_exact(lora_dir)
    base2 = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32, attn_implementation="eager")
    pm2 = PeftModel.from_pretrained(base2, str(lora_dir))
    got = forward_logits(pm2, ids, mask)
    with pm2.disable_adapter():
        got_base = forward_logits(pm2, ids, mask)
    ref = load_file(str(lora_dir / "reference.safetensors"))
    err = masked_max_abs(got, ref["logits"], mask)
    err_b = masked_max_abs(got_base, ref["logits_base"], mask)
    delta = masked_max_abs(ref["logits"], ref["logits_base"], mask)
    err_q = masked_max_abs(ref["logits_base"], base_logits, mask)
    print(f"  qwen3_untied_lora            logits {err:.3e}  logits_base {err_b:.3e}  "
          f"(logits_base vs qwen3_untied {err_q:.3e}; adapter changes logits by up to {delta:.3f})")
    assert err == 0.0 and err_b == 0.0 and err_q == 0.0 and delta > 0.5
    # merged weights must reproduce the adapter logits too (checks the LoRA scaling convention)
    merged = pm2.merge_and_unload()
    err_m = masked_max_abs(forward_logits(merged, ids, mask), ref["logits"], mask)
    print(f"  qwen3_untied_lora merged-vs-adapter logits {err_m:.3e}")
    assert err_m < 1e-4
    checks["qwen3_untied_lora"] = err

    # ---------------------------------------------------------------- provenance
    lora_keys = tensor_keys(lora_dir)["adapter_model.safetensors"]
    provenance = {
        "generator": "scripts/gen-model-fixtures.py",
        "regenerate": REGEN_CMD + "   (run from the repository root)",
        "seed": SEED,
        "seeding": (
            f"torch.manual_seed({SEED}); inputs use torch.Generator().manual_seed({SEED}); the k-th model "
            f"(k=0.. in the order of 'models' below, excluding variants) uses manual_seed({SEED}+1+k) for its "
            f"weights; LoRA A/B use manual_seed({SEED}+100)"
        ),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "safetensors": safetensors.__version__,
        },
        "common_config": {k: v for k, v in COMMON.items()},
        "weight_init": {
            "linear_and_embedding_weights": f"normal(0, {WEIGHT_STD})",
            "rmsnorm_weights (input_layernorm, post_attention_layernorm, model.norm, q_norm, k_norm)":
                f"1 + {NORM_STD} * normal(0, 1)",
            "biases (qwen2 q/k/v)": f"{BIAS_STD} * normal(0, 1)",
            "lora_A and lora_B (all of them)": f"normal(0, {LORA_STD})",
            "rounding": "every weight (base and LoRA) is rounded to a bf16-representable value "
                        "(w.to(bfloat16).to(float32)) before saving, so bf16 copies are exact",
        },
        "forward": "model.eval(), torch.no_grad(), float32 on CPU, attn_implementation='eager', "
                   "model(input_ids=input_ids, attention_mask=attention_mask).logits; positions are the default "
                   "arange(11) for both rows (right padding does not shift positions)",
        "reference.safetensors": {
            "input_ids": "int64 [2, 11]: token ids. Real tokens drawn uniformly from [1, 96) (same ids in every "
                         "reference file). Row 0: 11 real tokens. Row 1: 7 real tokens then right-padding with "
                         "pad id 0 (positions 7..10).",
            "attention_mask": "int64 [2, 11]: 1 for real tokens, 0 for padding (row 1, positions 7..10).",
            "logits": "float32 [2, 11, 96]: model logits. ONLY positions where attention_mask == 1 are "
                      "meaningful/compared; logits at padded positions are whatever HF computed there and must "
                      "be ignored.",
            "logprobs": "float32 [2, 10]: logprobs[b, t] = log_softmax(logits[b, t])[input_ids[b, t+1]] "
                        "(teacher-forced next-token log-prob, computed in float64 then cast), 0 where "
                        "attention_mask[b, t+1] == 0 (target is padding; row 1, t = 6..9).",
            "entropy": "float32 [2, 10]: entropy[b, t] = -sum_v p log p with p = softmax(logits[b, t]) "
                       "(float64 then cast), 0 where attention_mask[b, t+1] == 0 (same mask as logprobs).",
            "logits_base": "float32 [2, 11, 96], qwen3_untied_lora only: logits of the base model with the "
                           "adapter disabled (PeftModel.disable_adapter()); equal to qwen3_untied's logits.",
        },
        "models": {
            "llama_tied": "LlamaForCausalLM, tie_word_embeddings=true (no lm_head.weight in the file), "
                          "rope_theta 10000, no rope_scaling",
            "llama_untied_rope_scaling": "LlamaForCausalLM, untied, rope_theta 500000, rope_scaling "
                                         + json.dumps(LLAMA3_ROPE_SCALING),
            "qwen2_untied": "Qwen2ForCausalLM, q/k/v_proj have bias, o_proj no bias, untied",
            "qwen2_tied": "Qwen2ForCausalLM, q/k/v_proj have bias, tied (no lm_head.weight in the file)",
            "qwen3_tied": "Qwen3ForCausalLM, per-head q_norm/k_norm (RMSNorm over head_dim=8, applied before "
                          "RoPE), attention_bias=false, tied (no lm_head.weight in the file)",
            "qwen3_untied": "Qwen3ForCausalLM, untied",
            "qwen3_untied_sharded": "same weights as qwen3_untied saved with max_shard_size='40KB' "
                                    f"({n_shards} shards + model.safetensors.index.json); reference.safetensors "
                                    "is a copy of qwen3_untied's",
            "qwen3_untied_bf16": "same weights as qwen3_untied saved in bfloat16 (config.json "
                                 "\"dtype\": \"bfloat16\"); since weights are bf16-representable, upcasting to float32 "
                                 "reproduces qwen3_untied exactly; reference.safetensors is a copy of "
                                 "qwen3_untied's (float32 compute, not bf16 compute)",
            "qwen3_untied_lora": (
                f"PEFT LoRA adapter (r={LORA_R}, lora_alpha={LORA_ALPHA}, scaling alpha/r={LORA_ALPHA / LORA_R}, "
                f"dropout 0, targets {LORA_TARGETS}) for the base in ../qwen3_untied. "
                "y = W x + (alpha/r) * B (A x). adapter_config.json's base_model_name_or_path is "
                "'tests/fixtures/models/qwen3_untied' (relative to the repo root). reference.logits = adapter "
                "applied; reference.logits_base = adapter disabled."
            ),
        },
        "per_model": results,
        "sanity_check_max_abs_error_on_reload": checks,
        "lora_adapter_tensor_keys": lora_keys,
        "notes": [
            "config.json files are written by transformers "
            + transformers.__version__
            + " (4.x key layout: rope_theta and rope_scaling at top level). Since transformers 4.56 the dtype key "
              "is written as \"dtype\"; older checkpoints (most of the Hub) spell it \"torch_dtype\". "
              "transformers 5.x writes rope_parameters={rope_type, rope_theta, ...} instead of "
              "rope_theta/rope_scaling.",
            "Tied models omit lm_head.weight from model.safetensors; the loader must reuse "
            "model.embed_tokens.weight when tie_word_embeddings is true.",
            "Qwen2 config.json has no attention_bias key: Qwen2 always has q/k/v biases (o_proj none).",
            "Cross-checked once by hand (not by this script): transformers 5.23.0 + peft 0.21.2 load every "
            "directory here (converting rope_theta/rope_scaling to rope_parameters) and reproduce all reference "
            "logits with max abs error 0.",
            "Weight layout is torch Linear [out_features, in_features]; y = x @ W^T (+ b).",
        ],
    }
    (out / "PROVENANCE.json").write_text(json.dumps(provenance, indent=2) + "\n")

    total = dir_size(out)
    print(f"== total fixture size: {total} bytes ({total / 1024:.1f} KiB)")
    assert total < 5 * 1024 * 1024
    for name in sorted(p.name for p in out.iterdir() if p.is_dir()):
        print(f"  {name:28s} {dir_size(out / name):8d} bytes")


if __name__ == "__main__":
    main()
