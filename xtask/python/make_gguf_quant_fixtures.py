#!/usr/bin/env python3
"""Create the GGML dequantisation fixtures for o1p-model (crates/o1p-model/tests/gguf_quant.rs).

Run by hand (NOT by CI), from the repository root:

    pip install gguf==0.19.0 numpy         # llama.cpp's own gguf-py is the oracle
    scripts/fetch-assets.sh                # optional: real blocks from the SmolLM2 GGUF
    python xtask/python/make_gguf_quant_fixtures.py [--smollm2 PATH] [--out DIR]

It writes crates/o1p-model/tests/fixtures/gguf_quant/:

    cases.json     one entry per case: name, GGML type, element count, where the bytes came from
    <name>.bin     the raw blocks, exactly as stored in a GGUF file
    <name>.f32     gguf.quants.dequantize() of those bytes, little-endian float32

Random cases use a seeded numpy generator: random bytes for the packed values, and f16 scales
(and Q4_1 / Q4_K mins) that are finite: half drawn as N(0, 0.02) like real weights, half from
random finite bit patterns (subnormals and large exponents included). F16 cases add +-0, +-inf
and subnormals; BF16 and F32 cases are random bit patterns (NaNs included: both sides move bits).
Real cases are the first blocks of tensors of SmolLM2-135M-Instruct.Q4_1.gguf (Q4_1 and Q8_0);
without the file they are skipped and the script says so.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/o1p-model/tests/fixtures/gguf_quant"
SMOLLM2 = ROOT / ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

# Byte offsets of the f16 scale / min fields inside one block of each quantised type.
HALF_FIELDS = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q8_0: [0],
    T.Q4_K: [0, 2],
    T.Q6_K: [208],
}
# Blocks per random case (Q4_K / Q6_K blocks hold 256 values, the others 32).
BLOCKS = {T.Q4_0: 32, T.Q4_1: 32, T.Q8_0: 32, T.Q4_K: 8, T.Q6_K: 8}


def finite_halves(rng: np.random.Generator, n: int) -> np.ndarray:
    """n finite f16 values as uint16 bits: half realistic N(0, 0.02), half random finite bits."""
    realistic = (rng.normal(0.0, 0.02, n)).astype(np.float16).view(np.uint16)
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint32).astype(np.uint16)
    bits = np.where((bits & 0x7C00) == 0x7C00, bits & 0xBFFF, bits)  # exponent 31 -> 15: finite
    return np.where(rng.random(n) < 0.5, realistic, bits).astype(np.uint16)


def random_blocks(rng: np.random.Generator, qtype: T) -> tuple[bytes, int]:
    block, size = GGML_QUANT_SIZES[qtype]
    count = BLOCKS[qtype]
    raw = rng.integers(0, 256, (count, size), dtype=np.uint16).astype(np.uint8)
    for off in HALF_FIELDS[qtype]:
        raw[:, off : off + 2] = finite_halves(rng, count).view(np.uint8).reshape(count, 2)
    return raw.tobytes(), count * block


def random_plain(rng: np.random.Generator, qtype: T) -> tuple[bytes, int]:
    if qtype == T.F16:
        special = np.array([0x0000, 0x8000, 0x7C00, 0xFC00, 0x0001, 0x83FF, 0x7BFF, 0x3C00], np.uint16)
        bits = finite_halves(rng, 1016)
        return np.concatenate([special, bits]).astype("<u2").tobytes(), 1024
    if qtype == T.BF16:
        return rng.integers(0, 1 << 16, 1024, dtype=np.uint32).astype("<u2").tobytes(), 1024
    return rng.integers(0, 1 << 32, 256, dtype=np.uint64).astype("<u4").tobytes(), 256


def reference(qtype: T, raw: bytes, n: int) -> np.ndarray:
    data = np.frombuffer(raw, dtype=np.uint8)
    out = dequantize(data.reshape(1, -1), qtype).reshape(-1).astype(np.float32, copy=False)
    assert out.size == n, (qtype, out.size, n)
    return out


def real_cases(path: Path) -> list[tuple[str, T, bytes, int, str]]:
    reader = GGUFReader(path)
    tensors = {t.name: t for t in reader.tensors}
    picks = [
        ("smollm2_q4_1_attn_q", "blk.0.attn_q.weight", T.Q4_1, 36),  # two rows of 576
        ("smollm2_q4_1_ffn_down", "blk.17.ffn_down.weight", T.Q4_1, 48),  # one row of 1536
        ("smollm2_q8_0_token_embd", "token_embd.weight", T.Q8_0, 36),  # tokens 0 and 1
    ]
    out = []
    for name, tensor_name, qtype, blocks in picks:
        t = tensors[tensor_name]
        assert t.tensor_type == qtype, (tensor_name, t.tensor_type)
        block, size = GGML_QUANT_SIZES[qtype]
        raw = np.asarray(t.data).reshape(-1).view(np.uint8)[: blocks * size].tobytes()
        source = f"{path.name}: {tensor_name}, first {blocks} blocks"
        out.append((name, qtype, raw, blocks * block, source))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smollm2", type=Path, default=SMOLLM2)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    rng = np.random.default_rng(20250501)
    cases: list[tuple[str, T, bytes, int, str]] = []
    for qtype in (T.F32, T.F16, T.BF16):
        raw, n = random_plain(rng, qtype)
        cases.append((f"random_{qtype.name.lower()}", qtype, raw, n, "random, seed 20250501"))
    for qtype in (T.Q8_0, T.Q4_0, T.Q4_1, T.Q4_K, T.Q6_K):
        raw, n = random_blocks(rng, qtype)
        cases.append((f"random_{qtype.name.lower()}", qtype, raw, n, "random, seed 20250501"))
    if args.smollm2.is_file():
        cases.extend(real_cases(args.smollm2))
    else:
        print(f"note: {args.smollm2} not found; real SmolLM2 blocks skipped", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    total = 0
    for name, qtype, raw, n, source in cases:
        expected = reference(qtype, raw, n)
        if qtype not in (T.BF16, T.F32):
            assert np.isfinite(expected).all() or qtype == T.F16, name
        (args.out / f"{name}.bin").write_bytes(raw)
        (args.out / f"{name}.f32").write_bytes(expected.astype("<f4").tobytes())
        total += len(raw) + 4 * n
        manifest.append({"name": name, "type": qtype.name, "n": n, "source": source})
    doc = {"oracle": f"gguf-py {importlib.metadata.version('gguf')}, numpy {np.__version__}", "cases": manifest}
    (args.out / "cases.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(manifest)} cases, {total} bytes, to {args.out}")
    assert total < 200_000, "fixtures must stay small"
    return 0


if __name__ == "__main__":
    sys.exit(main())
