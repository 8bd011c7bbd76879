#!/usr/bin/env python3
"""PyTorch side of `cargo bench --bench generate`: the same work in PyTorch + transformers on the
same machine, f32, CPU: B prompts of PROMPT tokens (the same ids as the Rust bench), greedy,
exactly NEW new tokens through transformers' `generate` (KV cache, logits to the host per step).
Reports generated tokens/s over the whole call, prefill included, best of RUNS.

    python3 scripts/bench-generate-torch.py MODEL [B ...]
    MODEL: smollm2 (the GGUF the Rust bench loads, dequantised by transformers; needs `gguf`)
           qwen3-0.6b (random-init shape), qwen2.5-0.5b (random-init shape)

Env: AWPO_BENCH_PROMPT (64), AWPO_BENCH_NEW (128), AWPO_BENCH_RUNS (2), AWPO_BENCH_THREADS
(torch threads; default all), AWPO_BENCH_VOCAB (Qwen vocabularies), AWPO_SMOLLM2_GGUF (path).
Needs torch and transformers (and gguf for smollm2).
"""
import os
import sys
import time

import torch
import transformers

prompt = int(os.environ.get("AWPO_BENCH_PROMPT", "64"))
new = int(os.environ.get("AWPO_BENCH_NEW", "128"))
runs = int(os.environ.get("AWPO_BENCH_RUNS", "2"))
vocab = int(os.environ.get("AWPO_BENCH_VOCAB", "151936"))
if "AWPO_BENCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["AWPO_BENCH_THREADS"]))
name = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
batches = [int(b) for b in sys.argv[2:]] or [1, 16, 64]
torch.manual_seed(0)

if name == "smollm2":
    path = os.environ["AWPO_SMOLLM2_GGUF"]
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float32)
    label = "SmolLM2-135M (GGUF Q4_1 → f32)"
elif name == "qwen3-0.6b":
    cfg = transformers.Qwen3Config(
        vocab_size=vocab, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
        rope_theta=1e6, tie_word_embeddings=True, max_position_embeddings=40960)
    model = transformers.Qwen3ForCausalLM(cfg)
    label = f"Qwen3-0.6B shape, random, vocab {vocab}"
elif name == "qwen2.5-0.5b":
    cfg = transformers.Qwen2Config(
        vocab_size=vocab, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
        tie_word_embeddings=True, max_position_embeddings=32768)
    model = transformers.Qwen2ForCausalLM(cfg)
    label = f"Qwen2.5-0.5B shape, random, vocab {vocab}"
else:
    sys.exit(f"unknown model {name}: smollm2, qwen3-0.6b, qwen2.5-0.5b")
model = model.eval()
v = model.config.vocab_size
print(f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads; "
      f"{prompt} prompt tokens per row, {new} new tokens, greedy; best of {runs}")
print("| model | B | tokens/s | ms per step (call ÷ NEW) |")
print("|---|---:|---:|---:|")


def run(b):
    ids = torch.tensor([[((r * prompt + i) * 7919 + 13) % v for i in range(prompt)] for r in range(b)])
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                             max_new_tokens=new, min_new_tokens=new, pad_token_id=0)
        seconds = time.perf_counter() - t0
    assert out.shape == (b, prompt + new), out.shape
    return seconds


for b in batches:
    best = min(run(b) for _ in range(max(runs, 1)))
    print(f"| {label} (PyTorch) | {b} | {b * new / best:.1f} | {1000 * best / new:.0f} |", flush=True)
