#!/usr/bin/env bash
# Kernel launches per decode step on wgpu, counted (not estimated) from cubecl's profiling log:
# SmolLM2-135M through `benches/generate.rs` on the first wgpu adapter, 8-token prompts, the
# launches of a 7-token generation minus those of a 3-token one, divided by the 4 extra steps.
#
#   scripts/count-launches.sh [B]            (default B = 1)
# Env: AWPO_BENCH_RUST (a prebuilt `generate` bench binary, e.g. an older commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
b=${1:-1}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/awpo/target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
bin=${AWPO_BENCH_RUST:-}
if [ -z "$bin" ]; then
  bin=$(cargo build --profile dev --bench generate --message-format=json 2>/dev/null \
    | sed -n 's/.*"executable":"\([^"]*generate[^"]*\)".*/\1/p' | tail -1)
fi
log=$(mktemp -d)
count() {
  AWPO_BENCH_DEVICE=wgpu AWPO_BENCH_MODELS=smollm2 AWPO_BENCH_BATCHES=$b AWPO_BENCH_NEW=$1 \
    AWPO_BENCH_PROMPT=8 AWPO_BENCH_RUNS=1 CUBECL_DEBUG_LOG="$log/$1.log" CUBECL_DEBUG_OPTION=profile \
    "$bin" >/dev/null 2>&1
  # One line per kernel run: `| <time> | <kernel name>`.
  grep -cE '^\| [0-9.]+(ns|µs|ms|s) +\| ' "$log/$1.log"
}
short=$(count 3)
long=$(count 7)
echo "B = $b: $short launches for 3 new tokens, $long for 7: $(( (long - short) / 4 )) per decode step"
