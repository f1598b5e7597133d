#!/usr/bin/env python3
"""Create the tiny random Qwen2 / Llama parity fixtures for o1p-model.

Run by hand (NOT by CI), from the repository root:

    pip install torch==2.15.0 transformers==5.24.0 safetensors   # the oracle, ~5 GB, CPU is fine
    python xtask/python/make_model_fixtures.py                    # writes all fixtures
    python xtask/python/make_model_fixtures.py --only llama_gqa   # one fixture
    python xtask/python/make_model_fixtures.py --out /tmp/fx      # somewhere else

It writes crates/o1p-model/tests/fixtures/<name>/ for each fixture:

    config.json              as transformers 5 saves it (RoPE in "rope_parameters")
    config.v4.json           the same model in the transformers-4 / Hub form ("rope_theta" and
                             "rope_scaling" at top level, "torch_dtype"); checked to load to the
                             identical model
    generation_config.json   as transformers saves it
    model.safetensors        float32, Hugging Face tensor names
    reference.json           reference logits, log-probs, greedy continuations (schema: README.md
                             beside the fixtures)

Everything is seeded, so re-running with the same torch/transformers versions reproduces the
files (bit-exact on the same CPU; other CPUs may differ in the last float digits). The script
asserts its own invariants (padded batch == single sequences, KV-cache greedy == no-cache
greedy, sdpa == eager, legacy config == v5 config, safetensors round trip) and fails if any
does not hold.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import shutil
import sys
import tempfile

import numpy as np
import safetensors
import torch
import transformers
import transformers.utils.logging as hf_logging
from safetensors import safe_open
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
)

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "o1p-model", "tests", "fixtures")

PROMPT_LENGTHS = (5, 9, 13)
MAX_NEW_TOKENS = 12
PAD_ID = 0  # token id put in the padded slots of "batch_left_padded" (masked out anyway)
BOS_ID = 1
INIT_STD = 0.2  # larger than HF's 0.02: non-trivial logits, sharp attention, varied greedy tokens
SIG_DIGITS = 7
BATCH_TOL = 1e-5

COMMON = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    rms_norm_eps=1e-6,
    initializer_range=INIT_STD,
    hidden_act="silu",
    use_cache=True,
)

# name -> (model class, config class, config kwargs, seed, description)
FIXTURES = {
    "qwen2_tied": (
        Qwen2ForCausalLM,
        Qwen2Config,
        dict(
            COMMON,
            num_key_value_heads=2,
            max_position_embeddings=128,
            rope_theta=10000.0,
            tie_word_embeddings=True,
        ),
        1001,
        "Qwen2, q/k/v bias, GQA 4 heads / 2 KV heads, head_dim 16, tied embeddings",
    ),
    "qwen2_untied_mha": (
        Qwen2ForCausalLM,
        Qwen2Config,
        dict(
            COMMON,
            vocab_size=112,
            hidden_size=48,
            intermediate_size=96,
            num_key_value_heads=4,
            max_position_embeddings=128,
            rope_theta=1000000.0,
            tie_word_embeddings=False,
        ),
        1002,
        "Qwen2, q/k/v bias, MHA 4 heads / 4 KV heads, head_dim 12, untied lm_head, theta 1e6",
    ),
    "llama_gqa": (
        LlamaForCausalLM,
        LlamaConfig,
        dict(
            COMMON,
            vocab_size=120,
            num_key_value_heads=2,
            head_dim=32,  # != hidden_size / num_attention_heads (= 16)
            max_position_embeddings=128,
            rope_theta=10000.0,
            attention_bias=False,
            mlp_bias=False,
            tie_word_embeddings=False,
        ),
        1003,
        "Llama, no bias, GQA 4/2, explicit head_dim 32 (hidden 64 / 4 heads would be 16), untied",
    ),
    "llama3_rope": (
        LlamaForCausalLM,
        LlamaConfig,
        dict(
            COMMON,
            vocab_size=100,
            num_key_value_heads=2,
            max_position_embeddings=64,
            rope_theta=10000.0,
            rope_scaling={
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16,
            },
            attention_bias=False,
            mlp_bias=False,
            tie_word_embeddings=True,
        ),
        1004,
        "Llama, Llama-3 rope_scaling (factor 8, orig ctx 16), GQA 4/2, head_dim 16, tied",
    ),
}


def r(x: float) -> float:
    """Round a float to SIG_DIGITS significant digits (for compact JSON)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value {x}")
    return float(f"{x:.{SIG_DIGITS}g}")


def rlist(t: torch.Tensor):
    """Nested lists of rounded floats from a float tensor."""
    a = t.detach().to(torch.float64).cpu().numpy()
    if a.ndim == 1:
        return [r(v) for v in a]
    return [rlist(torch.from_numpy(row)) for row in a]


def reinit_(model: torch.nn.Module, seed: int) -> None:
    """Seeded re-init: every Linear/Embedding weight and bias ~ N(0, INIT_STD); RMSNorm
    weights ~ U(0.5, 1.5) so that a loader that skips them (leaving 1.0) is caught."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied params appear once
            if name.endswith("norm.weight"):
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=g) * INIT_STD)


def forward_logits(model, ids, attention_mask=None, position_ids=None):
    with torch.no_grad():
        out = model(
            input_ids=ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=False,
        )
    return out.logits.float()


def greedy_no_cache(model, prompt, n):
    """Reference greedy decoding by full re-forward (no KV cache)."""
    seq = list(prompt)
    out, margins = [], []
    for _ in range(n):
        logits = forward_logits(model, torch.tensor([seq]))[0, -1]
        top2 = torch.topk(logits, 2)
        out.append(int(top2.indices[0]))
        margins.append(float(top2.values[0] - top2.values[1]))
        seq.append(out[-1])
    return out, margins


def legacy_config(cfg_json: dict) -> dict:
    """transformers-4 / Hub form of a transformers-5 config.json dict."""
    c = copy.deepcopy(cfg_json)
    rp = c.pop("rope_parameters")
    c["rope_theta"] = rp["rope_theta"]
    scaling = {k: v for k, v in rp.items() if k != "rope_theta"}
    c["rope_scaling"] = None if scaling.get("rope_type") == "default" else scaling
    if "dtype" in c:
        c["torch_dtype"] = c.pop("dtype")
    c.pop("layer_types", None)  # Hub Qwen2 configs do not have it
    c.pop("transformers_version", None)
    return dict(sorted(c.items()))


def pick_eos(vocab: int, greedy: list[list[int]], prompts: list[list[int]]) -> int:
    """An eos id that never occurs in the greedy continuations (so that a decoder that stops
    at eos still produces all MAX_NEW_TOKENS tokens) nor in the prompts."""
    used = {t for g in greedy for t in g} | {t for p in prompts for t in p}
    for cand in range(2, vocab):
        if cand not in used and cand not in (PAD_ID, BOS_ID):
            return cand
    raise RuntimeError("no free eos id")


def make_fixture(name: str, out_root: str) -> dict:
    model_cls, cfg_cls, kwargs, seed, desc = FIXTURES[name]
    torch.manual_seed(seed)
    kwargs = dict(kwargs, bos_token_id=BOS_ID, eos_token_id=None, pad_token_id=None)
    cfg = cfg_cls(**kwargs)
    model = model_cls(cfg).to(torch.float32).eval()
    model.config._attn_implementation = "eager"  # the reference path
    reinit_(model, seed)
    V = cfg.vocab_size

    g = torch.Generator().manual_seed(seed + 7)
    prompts = [
        [BOS_ID] + torch.randint(3, V, (n - 1,), generator=g).tolist() for n in PROMPT_LENGTHS
    ]

    # Single-sequence forward passes (no cache).
    logits = [forward_logits(model, torch.tensor([p]))[0] for p in prompts]
    logprobs = []
    for p, lg in zip(prompts, logits):
        lsm = torch.log_softmax(lg, dim=-1)
        logprobs.append([None] + [r(lsm[i - 1, p[i]]) for i in range(1, len(p))])

    # sdpa must agree with eager (sanity of the oracle itself).
    model.config._attn_implementation = "sdpa"
    for p, lg in zip(prompts, logits):
        d = (forward_logits(model, torch.tensor([p]))[0] - lg).abs().max().item()
        assert d < 1e-5, f"{name}: sdpa vs eager differ by {d}"
    model.config._attn_implementation = "eager"

    # Greedy: generate() (KV cache) must equal no-cache greedy.
    greedy, margins = [], []
    for p in prompts:
        ids = torch.tensor([p])
        with torch.no_grad():
            gen = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=MAX_NEW_TOKENS,
                min_new_tokens=MAX_NEW_TOKENS,
                eos_token_id=None,
                pad_token_id=PAD_ID,
                bos_token_id=BOS_ID,
            )
        new = gen[0, len(p):].tolist()
        ref, m = greedy_no_cache(model, p, MAX_NEW_TOKENS)
        assert new == ref, f"{name}: generate {new} != no-cache greedy {ref}"
        assert len(new) == MAX_NEW_TOKENS
        greedy.append(new)
        margins.append(min(m))
    assert min(margins) > 1e-3, f"{name}: greedy top-1/top-2 margin {min(margins)} too small"

    # Left-padded batch with explicit position ids.
    L = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), L), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(prompts), L), dtype=torch.long)
    for b, p in enumerate(prompts):
        ids[b, L - len(p):] = torch.tensor(p)
        mask[b, L - len(p):] = 1
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    blog = forward_logits(model, ids, attention_mask=mask, position_ids=pos)
    batch = []
    for b, p in enumerate(prompts):
        sl = blog[b, L - len(p):]
        d = (sl - logits[b]).abs().max().item()
        assert d < BATCH_TOL, f"{name}: padded batch row {b} differs by {d}"
        batch.append(sl)

    # eos: an id that greedy never produces; written to config / generation_config.
    eos = pick_eos(V, greedy, prompts)
    model.config.eos_token_id = eos
    model.generation_config.eos_token_id = eos
    model.generation_config.bos_token_id = BOS_ID
    model.generation_config.pad_token_id = None

    # Save in HF layout.
    d = os.path.join(out_root, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    model.save_pretrained(d)
    for f in os.listdir(d):
        assert f in ("config.json", "generation_config.json", "model.safetensors"), f
    with open(os.path.join(d, "config.json")) as fh:
        cfg_json = json.load(fh)
    with open(os.path.join(d, "config.v4.json"), "w") as fh:
        json.dump(legacy_config(cfg_json), fh, indent=2)
        fh.write("\n")

    # Tensor inventory + dtype check.
    tensors = {}
    with safe_open(os.path.join(d, "model.safetensors"), "pt") as st:
        meta = st.metadata()
        for k in sorted(st.keys()):
            t = st.get_tensor(k)
            assert t.dtype == torch.float32, (k, t.dtype)
            tensors[k] = list(t.shape)
    has_lm_head = "lm_head.weight" in tensors
    assert has_lm_head == (not cfg.tie_word_embeddings), (name, has_lm_head)

    # Round trip: both config forms reload to the same logits.
    for cfg_file in ("config.json", "config.v4.json"):
        c2 = cfg_cls.from_json_file(os.path.join(d, cfg_file))
        m2 = model_cls.from_pretrained(d, config=c2, dtype=torch.float32).eval()
        m2.config._attn_implementation = "eager"
        for p, lg in zip(prompts, logits):
            diff = (forward_logits(m2, torch.tensor([p]))[0] - lg).abs().max().item()
            assert diff == 0.0, f"{name}: reload via {cfg_file} differs by {diff}"
        if cfg.tie_word_embeddings:
            assert m2.lm_head.weight.data_ptr() == m2.model.embed_tokens.weight.data_ptr()

    rot = model.model.rotary_emb
    if cfg.rope_parameters.get("rope_type", "default") != "default":
        # The scaling must actually change the frequencies used at the tested positions.
        c_plain = cfg_cls(**dict(kwargs, rope_scaling=None))
        plain = model_cls(c_plain).model.rotary_emb.inv_freq
        assert not torch.allclose(plain, rot.inv_freq), f"{name}: rope scaling has no effect"
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    rp = cfg.rope_parameters
    ref = {
        "name": name,
        "description": desc,
        "architecture": model_cls.__name__,
        "seed": seed,
        "init": f"Linear/Embedding weights and biases ~ N(0, {INIT_STD}); RMSNorm weights ~ U(0.5, 1.5)",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "safetensors": safetensors.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "config": {
            "model_type": cfg.model_type,
            "vocab_size": V,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_hidden_layers": cfg.num_hidden_layers,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": head_dim,
            "qkv_bias": cfg.model_type == "qwen2" or bool(getattr(cfg, "attention_bias", False)),
            "o_bias": bool(getattr(cfg, "attention_bias", False)),
            "mlp_bias": bool(getattr(cfg, "mlp_bias", False)),
            "rms_norm_eps": cfg.rms_norm_eps,
            "rope_theta": rp["rope_theta"],
            "rope_scaling": legacy_config({"rope_parameters": dict(rp)})["rope_scaling"],
            "max_position_embeddings": cfg.max_position_embeddings,
            "tie_word_embeddings": bool(cfg.tie_word_embeddings),
            "bos_token_id": BOS_ID,
            "eos_token_id": eos,
            "hidden_act": cfg.hidden_act,
        },
        "rope_inv_freq": rlist(rot.inv_freq.float()),
        "rope_attention_scaling": r(rot.attention_scaling),
        "safetensors_tensors": tensors,
        "safetensors_metadata": meta,
        "pad_token_id": PAD_ID,
        "max_new_tokens": MAX_NEW_TOKENS,
        "prompts": prompts,
        "logits": [rlist(lg) for lg in logits],
        "logprobs": logprobs,
        "greedy": greedy,
        "greedy_min_margin": [r(m) for m in margins],
        "batch_left_padded": {
            "input_ids": ids.tolist(),
            "attention_mask": mask.tolist(),
            "position_ids": pos.tolist(),
            "logits": [rlist(x) for x in batch],
        },
    }
    with open(os.path.join(d, "reference.json"), "w") as fh:
        json.dump(ref, fh, separators=(",", ":"))
        fh.write("\n")

    size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
    assert size < 1_000_000, f"{name}: {size} bytes"
    print(
        f"{name}: {size} bytes, lm_head.weight in file: {has_lm_head}, eos {eos}, "
        f"min greedy margin {min(margins):.4f}, logits std {torch.cat(logits).std().item():.3f}, "
        f"greedy {greedy}"
    )
    return ref


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixtures root (default: %(default)s)")
    ap.add_argument("--only", action="append", choices=sorted(FIXTURES), help="fixture(s) to make")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    torch.use_deterministic_algorithms(True)
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    os.makedirs(args.out, exist_ok=True)
    for name in args.only or FIXTURES:
        make_fixture(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
