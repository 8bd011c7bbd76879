#!/usr/bin/env python3
"""Reference for `cargo bench --bench generate`: the same work in PyTorch + transformers on the
same machine (random-init Qwen2.5-0.5B-shaped model, f32, CPU): prefill B prompts of PROMPT
tokens, then NEW greedy decode steps with the KV cache, logits to the host each step.

    python3 scripts/bench-generate-torch.py [B ...]     (needs torch and transformers)

Env: AWPO_BENCH_PROMPT (64), AWPO_BENCH_NEW (16), AWPO_BENCH_THREADS (torch threads, default all).
"""
import os
import sys
import time

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

prompt = int(os.environ.get("AWPO_BENCH_PROMPT", "64"))
new = int(os.environ.get("AWPO_BENCH_NEW", "16"))
if "AWPO_BENCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["AWPO_BENCH_THREADS"]))
batches = [int(b) for b in sys.argv[1:]] or [1, 8, 64]
cfg = Qwen2Config(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                  num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1e6,
                  tie_word_embeddings=True, max_position_embeddings=32768)
torch.manual_seed(0)
model = Qwen2ForCausalLM(cfg).eval()
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; prompt {prompt}, {new} decode steps")
print("| model | B | prefill tokens/s | decode tokens/s | decode ms/step |")
print("|---|---:|---:|---:|---:|")


def run(b, prompt, new):
    ids = (torch.arange(b * prompt) * 7919 + 13) % cfg.vocab_size
    ids = ids.reshape(b, prompt)
    with torch.no_grad():
        t0 = time.perf_counter()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        nxt = out.logits[:, -1].float().cpu().argmax(-1, keepdim=True)
        t1 = time.perf_counter()
        past = out.past_key_values
        for _ in range(new):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = out.logits[:, -1].float().cpu().argmax(-1, keepdim=True)
        t2 = time.perf_counter()
    return t1 - t0, t2 - t1


run(1, 8, 2)
for b in batches:
    pre, dec = run(b, prompt, new)
    print(f"| Qwen2.5-0.5B shape, random (PyTorch) | {b} | {b * prompt / pre:.0f} | {b * new / dec:.1f} | {1000 * dec / new:.0f} |")
