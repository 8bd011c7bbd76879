#!/usr/bin/env python3
"""Generate a tiny PEFT-written rsLoRA adapter fixture for the qwen3_untied base.

Writes tests/fixtures/models/qwen3_untied_rslora/ (relative to the repository root):

  adapter_config.json          written by PEFT (use_rslora=true, r=6, lora_alpha=9, lora_dropout=0.05,
                               target_modules q_proj/v_proj/down_proj), target_modules sorted
  adapter_model.safetensors    written by PEFT: lora_A [6, in] and lora_B [out, 6] for the three targets
                               in both layers, random bf16-representable float32 values
  reference.safetensors        input_ids, attention_mask, logits (adapter applied), logprobs, entropy,
                               logits_base (adapter disabled) -- the same keys and format that
                               scripts/gen-model-fixtures.py writes for qwen3_untied_lora

and adds a "qwen3_untied_rslora" entry to tests/fixtures/models/PROVENANCE.json.

PEFT scales an rsLoRA update by lora_alpha / sqrt(r) = 9 / sqrt(6) ~= 3.674 (plain LoRA would use
lora_alpha / r = 1.5), so a loader that ignores use_rslora misses the reference logits.

The base tests/fixtures/models/qwen3_untied must already exist (scripts/gen-model-fixtures.py makes it).
That script deletes and rewrites the whole of tests/fixtures/models/ including PROVENANCE.json, so after
running it run this script again.

Environment used (CPU only, Python 3.11.7), the same versions as scripts/gen-model-fixtures.py:
    python3 -m venv /tmp/rsl
    /tmp/rsl/bin/pip install torch==2.15.0 transformers==4.57.6 peft==0.21.2 safetensors==0.8.0 numpy
(torch 2.15.0 from PyPI reports itself as 2.15.0+cu132; it runs on CPU.)

Regenerate (from the repository root):
    /tmp/rsl/bin/python scripts/gen-rslora-fixture.py
"""

import importlib.util
import json
import math
import os
import shutil
from pathlib import Path

import torch

import peft
import safetensors
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

# The model-fixture generator's helpers and input settings, so this adapter's reference is made
# exactly as qwen3_untied_lora's is (the base weights come from its output too).
_spec = importlib.util.spec_from_file_location("gen_model_fixtures", Path(__file__).with_name("gen-model-fixtures.py"))
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
bf16_round = _fixtures.bf16_round
make_inputs = _fixtures.make_inputs
forward_logits = _fixtures.forward_logits
write_reference = _fixtures.write_reference
masked_max_abs = _fixtures.masked_max_abs
SEED = _fixtures.SEED
NUM_LAYERS = 2

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_REL = Path("tests/fixtures/models")
BASE_REL = MODELS_REL / "qwen3_untied"
NAME = "qwen3_untied_rslora"
OUT_REL = MODELS_REL / NAME
REGEN_CMD = "/tmp/rsl/bin/python scripts/gen-rslora-fixture.py"

LORA_SEED = SEED + 200  # qwen3_untied_lora uses SEED + 100
LORA_STD = 0.2
LORA_R = 6
LORA_ALPHA = 9
LORA_DROPOUT = 0.05
LORA_TARGETS = ["q_proj", "v_proj", "down_proj"]
SCALING = LORA_ALPHA / math.sqrt(LORA_R)


def load_base():
    return AutoModelForCausalLM.from_pretrained(str(BASE_REL), dtype=torch.float32, attn_implementation="eager")


def lora_config(use_rslora: bool = True) -> LoraConfig:
    return LoraConfig(
        r=LORA_R,
        lora_alpha=LORA_ALPHA,
        lora_dropout=LORA_DROPOUT,
        target_modules=list(LORA_TARGETS),
        bias="none",
        task_type="CAUSAL_LM",
        use_rslora=use_rslora,
    )


def main() -> None:
    os.chdir(REPO_ROOT)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    out = OUT_REL
    if out.exists():
        shutil.rmtree(out)

    ids, mask = make_inputs(torch.Generator().manual_seed(SEED))
    base_ref = load_file(str(BASE_REL / "reference.safetensors"))
    assert torch.equal(ids, base_ref["input_ids"]) and torch.equal(mask, base_ref["attention_mask"])

    # Base loaded from disk with a relative path, so PEFT records base_model_name_or_path as
    # "tests/fixtures/models/qwen3_untied".
    pm = get_peft_model(load_base(), lora_config())
    gen = torch.Generator().manual_seed(LORA_SEED)
    n_lora = 0
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if ".lora_A." in name or ".lora_B." in name:
                p.copy_(bf16_round(LORA_STD * torch.randn(p.shape, generator=gen)))
                n_lora += 1
    assert n_lora == 2 * len(LORA_TARGETS) * NUM_LAYERS, n_lora
    pm.eval()
    pm.save_pretrained(str(out), safe_serialization=True)
    # PEFT stores target_modules as a set (order depends on PYTHONHASHSEED): sort it so reruns are
    # byte-identical. Drop PEFT's boilerplate model card.
    acfg_path = out / "adapter_config.json"
    acfg = json.loads(acfg_path.read_text())
    assert acfg["base_model_name_or_path"] == str(BASE_REL), acfg["base_model_name_or_path"]
    acfg["target_modules"] = sorted(acfg["target_modules"])
    acfg_path.write_text(json.dumps(acfg, indent=2, sort_keys=True) + "\n")
    (out / "README.md").unlink(missing_ok=True)

    logits = forward_logits(pm, ids, mask)
    with pm.disable_adapter():
        logits_base = forward_logits(pm, ids, mask)
    write_reference(out, ids, mask, logits, extra={"logits_base": logits_base})

    # ---------------------------------------------------------------- sanity checks
    print("== sanity checks (max abs error over positions with attention_mask==1)")
    assert acfg["use_rslora"] is True and acfg["r"] == LORA_R and acfg["lora_alpha"] == LORA_ALPHA
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as sf:
        keys = {k: list(sf.get_slice(k).get_shape()) for k in sorted(sf.keys())}
    assert len(keys) == n_lora, keys
    for k, v in load_file(str(out / "adapter_model.safetensors")).items():
        assert v.dtype == torch.float32 and torch.equal(v, bf16_round(v)), k

    pm2 = PeftModel.from_pretrained(load_base(), str(out))
    scalings = {
        m.scaling["default"] for _, m in pm2.named_modules() if isinstance(m, peft.tuners.lora.LoraLayer)
    }
    print(f"  PEFT scaling {sorted(scalings)}  (alpha/sqrt(r) = {SCALING!r}; alpha/r would be {LORA_ALPHA / LORA_R})")
    assert scalings == {SCALING}, scalings
    got = forward_logits(pm2, ids, mask)
    with pm2.disable_adapter():
        got_base = forward_logits(pm2, ids, mask)
    ref = load_file(str(out / "reference.safetensors"))
    err = masked_max_abs(got, ref["logits"], mask)
    err_b = masked_max_abs(got_base, ref["logits_base"], mask)
    err_q = masked_max_abs(ref["logits_base"], base_ref["logits"], mask)
    delta = masked_max_abs(ref["logits"], ref["logits_base"], mask)
    print(f"  reload: logits {err:.3e}  logits_base {err_b:.3e}  (logits_base vs qwen3_untied {err_q:.3e}; "
          f"adapter changes logits by up to {delta:.3f})")
    assert err == 0.0 and err_b == 0.0 and err_q == 0.0 and delta > 0.5

    merged = pm2.merge_and_unload()
    err_m = masked_max_abs(forward_logits(merged, ids, mask), ref["logits"], mask)
    print(f"  merged-vs-adapter logits {err_m:.3e}")
    assert err_m < 1e-4

    # The same A/B with plain LoRA scaling (alpha/r) must miss the reference clearly.
    plain = PeftModel.from_pretrained(load_base(), str(out), config=lora_config(use_rslora=False))
    plain_err = masked_max_abs(forward_logits(plain, ids, mask), ref["logits"], mask)
    print(f"  same factors with alpha/r scaling miss the reference by {plain_err:.3f}")
    assert plain_err > 0.1

    # ---------------------------------------------------------------- provenance
    prov_path = MODELS_REL / "PROVENANCE.json"
    prov = json.loads(prov_path.read_text())
    for section in ("models", "per_model", "sanity_check_max_abs_error_on_reload"):
        prov[section].pop(NAME, None)
    prov.pop(NAME, None)
    prov["models"][NAME] = (
        f"PEFT rsLoRA adapter (use_rslora=true, r={LORA_R}, lora_alpha={LORA_ALPHA}, scaling "
        f"alpha/sqrt(r)={SCALING}, dropout {LORA_DROPOUT} (inactive in eval), targets {sorted(LORA_TARGETS)} only) "
        "for the base in ../qwen3_untied. y = W x + (alpha/sqrt(r)) * B (A x). Made by scripts/gen-rslora-fixture.py "
        f"(see the top-level \"{NAME}\" entry), not by the generator above. adapter_config.json's "
        "base_model_name_or_path is 'tests/fixtures/models/qwen3_untied' (relative to the repo root). "
        "reference.logits = adapter applied; reference.logits_base = adapter disabled."
    )
    prov["per_model"][NAME] = {"class": "PeftModel(Qwen3ForCausalLM)", "lora_seed": LORA_SEED}
    prov["sanity_check_max_abs_error_on_reload"][NAME] = err
    prov[NAME] = {
        "generator": "scripts/gen-rslora-fixture.py",
        "regenerate": REGEN_CMD + "   (run from the repository root, after scripts/gen-model-fixtures.py)",
        "seed": SEED,
        "seeding": (
            f"inputs use torch.Generator().manual_seed({SEED}) exactly as scripts/gen-model-fixtures.py (same "
            f"input_ids/attention_mask as every other reference file); LoRA A/B use manual_seed({LORA_SEED}) "
            f"({SEED}+200), drawn in PEFT's named_parameters() order"
        ),
        "versions": {
            "python": __import__("platform").python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "safetensors": safetensors.__version__,
        },
        "lora_config": {
            "r": LORA_R,
            "lora_alpha": LORA_ALPHA,
            "use_rslora": True,
            "lora_dropout": LORA_DROPOUT,
            "target_modules": sorted(LORA_TARGETS),
            "bias": "none",
            "task_type": "CAUSAL_LM",
        },
        "scaling": f"alpha/sqrt(r) = 9/sqrt(6) = {SCALING} (plain LoRA's alpha/r would be {LORA_ALPHA / LORA_R})",
        "weight_init": (
            f"every lora_A and lora_B: normal(0, {LORA_STD}) rounded to a bf16-representable float32 value; "
            "base weights are qwen3_untied's, loaded from disk"
        ),
        "reference.safetensors": (
            "same keys and format as qwen3_untied_lora: input_ids, attention_mask, logits (adapter applied), "
            "logprobs, entropy (from logits), logits_base (adapter disabled; equal to qwen3_untied's logits); "
            "metadata seed"
        ),
        "sanity_checks": {
            "reload_logits_max_abs_error": err,
            "reload_logits_base_max_abs_error": err_b,
            "merged_vs_adapter_logits_max_abs_error": err_m,
            "adapter_changes_logits_by_up_to": round(delta, 4),
            "alpha_over_r_scaling_misses_reference_by": round(plain_err, 4),
        },
        "adapter_tensor_keys": keys,
        "notes": [
            "Cross-checked once by hand (not by this script): transformers 5.23.0 + peft 0.21.2 (same torch) "
            "reload this adapter on ../qwen3_untied with scaling 9/sqrt(6) and reproduce reference logits and "
            "logits_base with max abs error 0.",
            "scripts/gen-model-fixtures.py deletes tests/fixtures/models/ and rewrites this file without this "
            "entry: run this script after it.",
        ],
    }
    prov_path.write_text(json.dumps(prov, indent=2) + "\n")

    total = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"== {out}: {total} bytes")
    for f in sorted(out.iterdir()):
        print(f"  {f.name:28s} {f.stat().st_size:8d} bytes")
    assert total < 100 * 1024


if __name__ == "__main__":
    main()
