"""Random Qwen2 checkpoints of real shapes for memory and speed benchmarks, standard library
only (the GPU machine and CI have no torch): bf16 safetensors streamed block by block, a
config.json and a character-level tokenizer. Used by scripts/gpu-bench.sh and
xtask/memory-step.sh (`PYTHONPATH=scripts`, then `from random_checkpoint import write_model`).

The weights repeat one 2 MiB block of N(0, 0.02) bf16 values (seeded), norms are ones: the
numbers are meaningless, the shapes, dtypes and file layout are the real ones.
"""
import json
import os
import random
import struct

ALPHABET = "".join(chr(c) for c in range(32, 127)) + "\n"
_rng = random.Random(0)
BLOCK = b"".join(struct.pack("<f", _rng.gauss(0.0, 0.02))[2:] for _ in range(1 << 20))  # bf16
ONES = struct.pack("<f", 1.0)[2:]


def tensors(v, h, i, layers, heads, kv, tied):
    """(name, shape, is_norm) of every tensor, in Hugging Face's Qwen2 names."""
    d = h // heads
    yield "model.embed_tokens.weight", [v, h], False
    for l in range(layers):
        p = f"model.layers.{l}."
        yield p + "input_layernorm.weight", [h], True
        yield p + "post_attention_layernorm.weight", [h], True
        for name, rows in (("q", h), ("k", kv * d), ("v", kv * d)):
            yield p + f"self_attn.{name}_proj.weight", [rows, h], False
            yield p + f"self_attn.{name}_proj.bias", [rows], False
        yield p + "self_attn.o_proj.weight", [h, h], False
        yield p + "mlp.gate_proj.weight", [i, h], False
        yield p + "mlp.up_proj.weight", [i, h], False
        yield p + "mlp.down_proj.weight", [h, i], False
    yield "model.norm.weight", [h], True
    if not tied:
        yield "lm_head.weight", [v, h], False


def write_model(out, v, h, i, layers, heads, kv, tied):
    """Writes the checkpoint into `out` unless its model.safetensors exists; returns `v`."""
    os.makedirs(out, exist_ok=True)
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return v
    specs = list(tensors(v, h, i, layers, heads, kv, tied))
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dims, _ in specs:
        n = 2
        for x in dims:
            n *= x
        header[name] = {"dtype": "BF16", "shape": dims, "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    tmp = os.path.join(out, "model.safetensors.tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for name, dims, is_norm in specs:
            n = 1
            for x in dims:
                n *= x
            if is_norm:
                f.write(ONES * n)
                continue
            left = 2 * n
            while left > 0:
                chunk = BLOCK[: min(left, len(BLOCK))]
                f.write(chunk)
                left -= len(chunk)
    os.replace(tmp, os.path.join(out, "model.safetensors"))
    config = {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": v,
        "hidden_size": h, "intermediate_size": i, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "tie_word_embeddings": tied, "hidden_act": "silu", "use_sliding_window": False,
        "eos_token_id": 0, "torch_dtype": "bfloat16",
    }
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=1)
    vocab = {"<|endoftext|>": 0, "<unk>": 1}
    for c in ALPHABET:
        vocab.setdefault(c, len(vocab))
    special = lambda i, s: {"id": i, "content": s, "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(0, "<|endoftext|>"), special(1, "<unk>")],
        "normalizer": None,
        "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?s)."},
                          "behavior": "Isolated", "invert": False},
        "post_processor": None, "decoder": {"type": "Fuse"},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
    json.dump(tokenizer, open(os.path.join(out, "tokenizer.json"), "w"))
    json.dump({"eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "add_bos_token": False},
              open(os.path.join(out, "tokenizer_config.json"), "w"))
    return v
