#!/usr/bin/env python3
"""Tiny GGUF checkpoints with reference outputs, for crates/o1p-model/tests/gguf_parity.rs.

Run by hand (NOT by CI), from the repository root:

    pip install torch==2.15.0 transformers==5.24.0 accelerate gguf==0.19.0
    python xtask/python/make_gguf_model_fixtures.py [--out DIR]

Each of the four tiny random safetensors fixtures of crates/o1p-model/tests/fixtures
(qwen2_tied, qwen2_untied_mha, llama_gqa, llama3_rope; see their README) is converted to GGUF
the way llama.cpp's convert_hf_to_gguf.py does it:

- metadata `<arch>.*` (block_count, context_length, embedding_length, feed_forward_length,
  attention.head_count(_kv), attention.key_length / value_length, rope.dimension_count,
  rope.freq_base, attention.layer_norm_rms_epsilon, vocab_size) and tokenizer.ggml.bos/eos ids;
- llama.cpp tensor names (blk.N.attn_q.weight, ...), no output.weight when the head is tied;
- Llama only: q/k weights (and biases) permuted, `LlamaModel.permute`:
  `w.reshape(n_head, 2, rows // n_head // 2, *rest).swapaxes(1, 2)`; Qwen2 is not permuted;
- Llama-3 rotary scaling as the rope_freqs.weight tensor of per-frequency divisors
  (`LlamaModel.generate_extra_tensors`), with no scaling metadata;
- a mix of tensor types (quantised with gguf-py): token_embd Q8_0, attn_q Q4_1, attn_k Q4_0,
  attn_v Q8_0, attn_output F16, ffn_gate Q4_1, ffn_up BF16, ffn_down Q8_0, output Q8_0, norms
  and biases F32; a matrix whose rows are not a multiple of 32 is stored F16 instead.

The reference outputs come from the original transformers model with every weight replaced by
dequantize(quantize(w)) (gguf-py), in the Hugging Face row order. Quantisation works within rows,
so this equals un-permuting the stored rows, and no un-permutation code of ours is involved.
Where transformers can load the GGUF itself (all but llama3_rope: its GGUF loader ignores
rope_freqs.weight), the script also checks that transformers' own GGUF loader gives the same
logits (1e-4).

It writes crates/o1p-model/tests/fixtures/gguf_tiny/<name>.gguf and <name>.json with the
prompts (the safetensors fixture's three), the last-position logits of each, and 12 greedy
tokens per prompt (eos disabled) with their smallest top-1 / top-2 margin.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter
from gguf.quants import dequantize, quantize
from transformers import AutoModelForCausalLM

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates/o1p-model/tests/fixtures"
OUT = FIXTURES / "gguf_tiny"
NAMES = ["qwen2_tied", "qwen2_untied_mha", "llama_gqa", "llama3_rope"]

TYPES = {
    "token_embd": T.Q8_0,
    "attn_q": T.Q4_1,
    "attn_k": T.Q4_0,
    "attn_v": T.Q8_0,
    "attn_output": T.F16,
    "ffn_gate": T.Q4_1,
    "ffn_up": T.BF16,
    "ffn_down": T.Q8_0,
    "output": T.Q8_0,
}
HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def gguf_name(hf: str) -> str:
    stem, suffix = hf.rsplit(".", 1)
    if stem == "model.embed_tokens":
        return f"token_embd.{suffix}"
    if stem == "model.norm":
        return f"output_norm.{suffix}"
    if stem == "lm_head":
        return f"output.{suffix}"
    _, _, layer, module = stem.split(".", 3)
    return f"blk.{layer}.{HF_TO_GGUF[module]}.{suffix}"


def permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's LlamaModel.permute (HF rotate-half rows -> interleaved pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def store(w: np.ndarray, qtype: T) -> tuple[np.ndarray, T]:
    """The bytes to write (or an f16/f32 array) and the type actually used."""
    if w.ndim == 2 and qtype not in (T.F16, T.BF16) and w.shape[1] % 32 != 0:
        qtype = T.F16
    if qtype == T.F32:
        return w.astype(np.float32), qtype
    if qtype == T.F16:
        return w.astype(np.float16), qtype
    return quantize(w.astype(np.float32), qtype), qtype


def roundtrip(data: np.ndarray, qtype: T) -> np.ndarray:
    if qtype in (T.F32, T.F16):
        return data.astype(np.float32)
    return dequantize(data, qtype).astype(np.float32)


def llama3_divisors(cfg: dict, head_dim: int) -> np.ndarray:
    """LlamaModel.generate_extra_tensors of convert_hf_to_gguf.py."""
    rope = cfg["rope_parameters"]
    base, factor = rope["rope_theta"], rope["factor"]
    low, high = rope["low_freq_factor"], rope["high_freq_factor"]
    old = rope["original_max_position_embeddings"]
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            out.append(1)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def convert(name: str, out: Path) -> tuple[Path, dict[str, torch.Tensor], dict]:
    src = FIXTURES / name
    cfg = json.loads((src / "config.json").read_text())
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    arch = cfg["model_type"]
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads

    path = out / f"{name}.gguf"
    w = GGUFWriter(path, arch)
    w.add_name(name)
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(kv_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(cfg["rope_parameters"]["rope_theta"])
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    w.add_vocab_size(cfg["vocab_size"])
    w.add_bos_token_id(cfg["bos_token_id"])
    w.add_eos_token_id(cfg["eos_token_id"])

    roundtripped: dict[str, torch.Tensor] = {}
    types: dict[str, str] = {}
    for hf, tensor in model.state_dict().items():
        if hf == "lm_head.weight" and cfg.get("tie_word_embeddings"):
            continue
        arr = tensor.detach().numpy()
        g = gguf_name(hf)
        kind = g.split(".")[-2]
        qtype = TYPES.get(kind, T.F32) if hf.endswith(".weight") and arr.ndim == 2 else T.F32
        stored = arr
        if arch == "llama" and kind in ("attn_q", "attn_k"):
            stored = permute(arr, heads if kind == "attn_q" else kv_heads)
        data, qtype = store(stored, qtype)
        types[g] = qtype.name
        raw_dtype = qtype if qtype not in (T.F32, T.F16) else None
        w.add_tensor(g, data, raw_dtype=raw_dtype)
        # The reference weight: the same quantisation error, in HF row order.
        hf_data, _ = store(arr, qtype)
        roundtripped[hf] = torch.from_numpy(roundtrip(hf_data, qtype).reshape(arr.shape))
    if cfg["rope_parameters"].get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_divisors(cfg, head_dim))
        types["rope_freqs.weight"] = "F32"
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path, roundtripped, {"types": types}


def reference(name: str, weights: dict[str, torch.Tensor]) -> tuple[AutoModelForCausalLM, dict]:
    src = FIXTURES / name
    model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not unexpected and all(k == "lm_head.weight" for k in missing), (missing, unexpected)
    if model.config.tie_word_embeddings:
        model.tie_weights()
    model.eval()
    prompts = json.loads((src / "reference.json").read_text())["prompts"]
    out = {"prompts": prompts, "last_logits": [], "greedy": [], "greedy_min_margin": []}
    for ids in prompts:
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1]
        out["last_logits"].append([float(f"{v:.7g}") for v in logits.tolist()])
        seq, margins = list(ids), []
        for _ in range(12):  # cache-free greedy, eos ignored
            with torch.no_grad():
                step = model(torch.tensor([seq])).logits[0, -1]
            top2 = torch.topk(step, 2)
            margins.append((top2.values[0] - top2.values[1]).item())
            seq.append(int(top2.indices[0]))
        out["greedy"].append(seq[len(ids):])
        out["greedy_min_margin"].append(float(f"{min(margins):.4g}"))
    return model, out


def transformers_gguf_logits(path: Path, prompts: list[list[int]]) -> list[torch.Tensor]:
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        return [model(torch.tensor([ids])).logits[0, -1] for ids in prompts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name in NAMES:
        path, weights, info = convert(name, args.out)
        _, ref = reference(name, weights)
        if name != "llama3_rope":
            theirs = transformers_gguf_logits(path, ref["prompts"])
            for mine, t in zip(ref["last_logits"], theirs):
                diff = (torch.tensor(mine) - t).abs().max().item()
                assert diff < 1e-4, f"{name}: transformers' GGUF loader differs by {diff}"
        assert min(ref["greedy_min_margin"]) > 1e-3, f"{name}: greedy too close to call"
        doc = {
            "name": name,
            "source": f"crates/o1p-model/tests/fixtures/{name} converted like convert_hf_to_gguf.py",
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
            **info,
            **ref,
        }
        (args.out / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"{name}: {path.stat().st_size} bytes, margins {ref['greedy_min_margin']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
