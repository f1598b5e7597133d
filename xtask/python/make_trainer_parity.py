#!/usr/bin/env python3
"""Create the one-step parity fixture of o1p-trainer: two optimizer steps of O1-Pruner's clipped
objective on a tiny random Qwen2, computed independently in PyTorch.

Run by hand (NOT by CI), from the repository root:

    pip install torch==2.15.0 transformers==5.24.0 safetensors
    python xtask/python/make_trainer_parity.py            # writes the fixture
    python xtask/python/make_trainer_parity.py --out /tmp/fx

It writes crates/o1p-trainer/tests/fixtures/parity/:

    model/config.json, model/model.safetensors   the initial model (float32, HF names)
    pool.json                                    the pool, the run settings, the advantages
    expected_sequence.safetensors                parameters after step 1 and step 2
    expected_token_mean.safetensors              (keys "step1.<name>", "step2.<name>", f32)

The reference is written from the paper's equations, not from the Rust code:

    R(x, y)  = Lbar_ref(x) / L(y) - 1 + lambda * (A(x, y) - Abar_ref(x))   (all K samples)
    r        = exp(sum_t logp_t - sum_t ref_t)            ("sequence", Eq. 7's pi/pi_ref)
             = exp(mean_t (logp_t - ref_t))               ("token_mean", the reference code)
    loss     = -mean_i min(r_i R_i, clip(r_i, 1 - eps, 1 + eps) R_i)
    optimizer: torch.optim.AdamW(lr, betas (0.9, 0.999), eps 1e-8, weight_decay 0)

The whole pool is one batch and is seen twice (2 epochs = 2 optimizer steps), learning rate
constant (no warmup, min_lr_ratio 1), no gradient clipping. Step 1 starts at r = 1; the learning
rate is chosen so that in step 2 some ratios sit on the clipped side (their gradient is 0) and
some do not: the script asserts both. The forward runs in float64 (transformers' eager Qwen2);
parameters are saved in float32.
"""

from __future__ import annotations

import argparse
import json
import os

import torch
from safetensors.torch import save_file
from transformers import Qwen2Config, Qwen2ForCausalLM

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(REPO_ROOT, "crates", "o1p-trainer", "tests", "fixtures", "parity")

SEED = 16
INIT_STD = 0.2
LR = 1e-3
CLIP_EPS = 0.1
ADAM_EPS = 1e-8
LAMBDA = 2.0

# (problem, prompt ids, response ids, correct): two problems with K = 3 samples each; the
# rewards come out with both signs.
POOL = [
    ("a", [1, 5, 9, 6], [11, 12, 13, 2], True),
    ("a", [1, 5, 9, 6], [14, 15, 16, 17, 18, 19, 2], False),
    ("a", [1, 5, 9, 6], [11, 20, 21, 22, 2], True),
    ("b", [1, 7, 8], [23, 24, 2], False),
    ("b", [1, 7, 8], [25, 26, 27, 28, 29, 30, 31, 2], True),
    ("b", [1, 7, 8], [23, 26, 2], False),
]


def tiny_model() -> Qwen2ForCausalLM:
    config = Qwen2Config(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        hidden_act="silu",
        attn_implementation="eager",
    )
    torch.manual_seed(SEED)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, INIT_STD)
    return model


def advantages() -> list[float]:
    out = []
    for problem, _, resp, correct in POOL:
        group = [s for s in POOL if s[0] == problem]
        lbar = sum(len(s[2]) for s in group) / len(group)
        abar = sum(1.0 for s in group if s[3]) / len(group)
        out.append(lbar / len(resp) - 1.0 + LAMBDA * (float(correct) - abar))
    return out


def response_logprobs(model, prompt, resp) -> torch.Tensor:
    ids = torch.tensor([prompt + resp])
    logits = model(input_ids=ids).logits[0]  # [T, V]
    logp = torch.log_softmax(logits, dim=-1)
    # Token at position j is predicted by position j - 1.
    pos = torch.arange(len(prompt) - 1, len(prompt) + len(resp) - 1)
    return logp[pos, torch.tensor(resp)]


def loss_fn(model, refs, adv, mode):
    terms = []
    stats = []
    for (_, prompt, resp, _), ref, a in zip(POOL, refs, adv):
        diff = response_logprobs(model, prompt, resp) - ref
        log_r = diff.sum() if mode == "sequence" else diff.mean()
        r = torch.exp(log_r)
        clipped = torch.clamp(r, 1 - CLIP_EPS, 1 + CLIP_EPS)
        terms.append(torch.minimum(r * a, clipped * a))
        rv = r.item()
        stats.append((a > 0 and rv > 1 + CLIP_EPS) or (a < 0 and rv < 1 - CLIP_EPS))
    return -torch.stack(terms).mean(), stats


def train(mode: str, init_state) -> tuple[dict, dict, list]:
    model = tiny_model().double()
    model.load_state_dict({k: v.double() for k, v in init_state.items()})
    model.train()
    with torch.no_grad():
        refs = [response_logprobs(model, p, r).detach() for _, p, r, _ in POOL]
    adv = advantages()
    opt = torch.optim.AdamW(
        model.parameters(), lr=LR, betas=(0.9, 0.999), eps=ADAM_EPS, weight_decay=0.0
    )
    snapshots = []
    clip_stats = []
    small_grads = []
    for _step in range(2):
        opt.zero_grad()
        loss, stats = loss_fn(model, refs, adv, mode)
        clip_stats.append(stats)
        loss.backward()
        g = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        moved = g.abs() > 0
        small_grads.append(float(((g.abs() < 1e-2) & moved).sum() / moved.sum()))
        opt.step()
        snapshots.append(
            {k: v.detach().float().clone() for k, v in model.state_dict().items() if k != "lm_head.weight"}
        )
    return snapshots, clip_stats, small_grads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    os.makedirs(os.path.join(args.out, "model"), exist_ok=True)

    model = tiny_model()
    model.save_pretrained(os.path.join(args.out, "model"), safe_serialization=True)
    for extra in ("generation_config.json",):
        path = os.path.join(args.out, "model", extra)
        if os.path.exists(path):
            os.remove(path)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}

    adv = advantages()
    assert any(a > 0 for a in adv) and any(a < 0 for a in adv), adv
    summary = {}
    for mode in ("sequence", "token_mean"):
        snapshots, clip_stats, small = train(mode, init_state)
        assert not any(clip_stats[0]), "step 1 starts at r = 1: nothing is clipped"
        clipped = clip_stats[1]
        assert any(clipped) and not all(clipped), f"{mode}: step 2 clipped {clipped}"
        tensors = {}
        for k, snap in enumerate(snapshots, start=1):
            for name, t in snap.items():
                tensors[f"step{k}.{name}"] = t.contiguous()
        save_file(tensors, os.path.join(args.out, f"expected_{mode}.safetensors"))
        summary[mode] = {
            "clipped_in_step2": [i for i, c in enumerate(clipped) if c],
            "fraction_of_gradients_below_1e-2": small,
        }
        print(mode, summary[mode])

    pool = {
        "lr": LR,
        "eps": CLIP_EPS,
        "adam_epsilon": ADAM_EPS,
        "lambda": LAMBDA,
        "samples": [
            {
                "problem_id": p,
                "sample_index": [s for s in POOL if s[0] == p].index((p, prompt, resp, c)),
                "prompt_ids": prompt,
                "response_ids": resp,
                "correct": c,
            }
            for p, prompt, resp, c in POOL
        ],
        "advantages": adv,
        "reference": summary,
    }
    with open(os.path.join(args.out, "pool.json"), "w") as f:
        json.dump(pool, f, indent=1)
        f.write("\n")
    print("advantages", [round(a, 4) for a in adv])


if __name__ == "__main__":
    main()
