#!/usr/bin/env python3
"""PyTorch side of the train-step comparison with `cargo bench --bench memory` (its train phase):
one LoRA step on the same work in PyTorch + transformers + PEFT, f32, CPU: 8 rows of 512 tokens,
LoRA r = 16 (alpha 32) on all seven projections, the policy-gradient loss on each row's last 64
tokens (advantages +1/-1, token mean), backward, one AdamW step. Reports the step's seconds and
tokens/s, best of RUNS (the first also warms the allocator).

    python3 scripts/bench-train-torch.py MODEL      (smollm2 | qwen3-0.6b)

Env: AWPO_BENCH_RUNS (2), AWPO_BENCH_THREADS (torch threads; default all), AWPO_SMOLLM2_GGUF.
Needs torch, transformers, peft (and gguf for smollm2).
"""
import os
import sys
import time

import peft
import torch
import transformers

runs = int(os.environ.get("AWPO_BENCH_RUNS", "2"))
if "AWPO_BENCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["AWPO_BENCH_THREADS"]))
name = sys.argv[1] if len(sys.argv) > 1 else "smollm2"
rows, length, new = 8, 512, 64
torch.manual_seed(0)
if name == "smollm2":
    path = os.environ["AWPO_SMOLLM2_GGUF"]
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(path), gguf_file=os.path.basename(path), torch_dtype=torch.float32)
elif name == "qwen3-0.6b":
    cfg = transformers.Qwen3Config(
        vocab_size=151936, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
        rope_theta=1e6, tie_word_embeddings=True, max_position_embeddings=40960)
    model = transformers.Qwen3ForCausalLM(cfg)
else:
    sys.exit(f"unknown model {name}: smollm2, qwen3-0.6b")
targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
model = peft.get_peft_model(model, peft.LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=targets))
model.train()
optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
v = model.config.vocab_size
ids = torch.tensor([[((r * length + i) * 7919 + 13) % v for i in range(length)] for r in range(rows)])
adv = torch.tensor([1.0 if r % 2 == 0 else -1.0 for r in range(rows)])


def step():
    t0 = time.perf_counter()
    logits = model(input_ids=ids).logits[:, -new - 1:-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, -new:, None]).squeeze(-1)
    loss = -(adv[:, None] * logp).mean()
    loss.backward()
    optim.step()
    optim.zero_grad()
    return time.perf_counter() - t0


best = min(step() for _ in range(max(runs, 1)))
print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
      f"{torch.get_num_threads()} threads")
print(f"| {name} (PyTorch + PEFT) | {rows} x {length} | {best:.1f} s | {rows * length / best:.0f} tokens/s |")
