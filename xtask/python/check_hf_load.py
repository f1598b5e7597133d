#!/usr/bin/env python3
"""Prove that a checkpoint directory (e.g. one the Rust code saved) loads in transformers.

Run by hand or from an optional CI step; needs the oracle environment:

    pip install torch==2.15.0 transformers==5.24.0 safetensors

Usage:

    python xtask/python/check_hf_load.py DIR --ids 1,5,7,9 [--ids 1,2,3 ...] [--greedy N]
    python xtask/python/check_hf_load.py DIR --reference crates/o1p-model/tests/fixtures/llama_gqa/reference.json
    python xtask/python/check_hf_load.py DIR --reference REF.json --tol 1e-4 --no-logits

DIR holds config.json + model.safetensors (or a sharded model.safetensors.index.json), as
saved by Hugging Face or by o1p-model. The model is loaded with AutoModelForCausalLM in float32
(whatever dtype the file holds) on the CPU, strictly: any missing, unexpected or mis-shaped
tensor is an error (transformers alone would only warn and randomly initialise missing ones).

Prints one JSON object on stdout:

    {"model_dir": str, "architecture": str, "model_type": str,
     "versions": {"torch": str, "transformers": str},
     "loading_info": {"missing_keys": [], "unexpected_keys": [], "mismatched_keys": []},
     "tie_word_embeddings": bool, "lm_head_in_file": bool,
     "results": [{"ids": [int], "logits": [[float]] (seq x vocab; omitted with --no-logits),
                  "logprobs": [null, float, ...],           # lp_i = log_softmax(logits[i-1])[ids[i]]
                  "greedy": [int] (only with --greedy N or --reference: N new tokens, no eos stop),
                  "max_abs_logit_diff": float (only with --reference),
                  "greedy_match": bool (only with --reference)}],
     "ok": bool}

Exit status: 0 on success; 1 when the model cannot be loaded (bad config, missing, unexpected or
mis-shaped tensor); 2 on bad arguments; 3 when --reference is given and a logit differs by more
than --tol or a greedy continuation differs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback


def parse_ids(s: str) -> list[int]:
    try:
        ids = [int(x) for x in s.replace(" ", "").split(",") if x != ""]
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad id list {s!r}: want comma-separated integers")
    if not ids:
        raise argparse.ArgumentTypeError("empty id list")
    return ids


def r(x: float) -> float:
    return float(f"{float(x):.7g}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("--ids", type=parse_ids, action="append", default=[], help="comma-separated token ids (repeatable)")
    ap.add_argument("--reference", help="a reference.json (fixtures schema): use its prompts and compare logits/greedy")
    ap.add_argument("--tol", type=float, default=1e-4, help="max abs logit difference vs --reference (default 1e-4)")
    ap.add_argument("--greedy", type=int, default=0, help="also greedy-decode N new tokens (no eos stop)")
    ap.add_argument("--no-logits", action="store_true", help="leave the full logits out of the output")
    args = ap.parse_args()

    ref = None
    if args.reference:
        with open(args.reference) as fh:
            ref = json.load(fh)
        args.ids = args.ids + ref["prompts"]
        if not args.greedy:
            args.greedy = len(ref["greedy"][0])
    if not args.ids:
        ap.error("give --ids and/or --reference")

    import torch
    import transformers
    import transformers.utils.logging as hf_logging
    from transformers import AutoConfig, AutoModelForCausalLM

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    d = args.model_dir
    try:
        if not os.path.isfile(os.path.join(d, "config.json")):
            raise FileNotFoundError(f"{d}/config.json not found")
        config = AutoConfig.from_pretrained(d)
        model, info = AutoModelForCausalLM.from_pretrained(
            d, config=config, dtype=torch.float32, output_loading_info=True
        )
        model.eval()
        info = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        info = {k: [list(x) if isinstance(x, tuple) else x for x in v] for k, v in info.items()}
        if any(info.values()):
            raise RuntimeError(f"checkpoint does not match the architecture: {json.dumps(info)}")
        # Which tensors the file(s) hold (tied checkpoints normally have no lm_head.weight).
        from safetensors import safe_open

        keys: set[str] = set()
        idx = os.path.join(d, "model.safetensors.index.json")
        files = (
            sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.isfile(idx) else ["model.safetensors"]
        )
        for f in files:
            with safe_open(os.path.join(d, f), "pt") as st:
                keys |= set(st.keys())
    except Exception as e:  # noqa: BLE001 - any load failure is the answer
        traceback.print_exc(file=sys.stderr)
        print(f"check_hf_load: FAILED to load {d}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1

    vocab = model.config.vocab_size
    results = []
    ok = True
    for i, ids in enumerate(args.ids):
        if min(ids) < 0 or max(ids) >= vocab:
            print(f"check_hf_load: token id out of range [0, {vocab}) in {ids}", file=sys.stderr)
            return 2
        t = torch.tensor([ids])
        with torch.no_grad():
            logits = model(input_ids=t, use_cache=False).logits[0].float()
        lsm = torch.log_softmax(logits, dim=-1)
        res = {"ids": ids}
        if not args.no_logits:
            res["logits"] = [[r(v) for v in row] for row in logits.tolist()]
        res["logprobs"] = [None] + [r(lsm[j - 1, ids[j]]) for j in range(1, len(ids))]
        if args.greedy:
            with torch.no_grad():
                gen = model.generate(
                    t,
                    attention_mask=torch.ones_like(t),
                    do_sample=False,
                    max_new_tokens=args.greedy,
                    min_new_tokens=args.greedy,
                    eos_token_id=None,
                    pad_token_id=0,
                )
            res["greedy"] = gen[0, len(ids):].tolist()
        j = i - (len(args.ids) - len(ref["prompts"])) if ref else -1
        if ref is not None and j >= 0:
            want = torch.tensor(ref["logits"][j], dtype=torch.float32)
            diff = (logits - want).abs().max().item() if want.shape == logits.shape else float("inf")
            res["max_abs_logit_diff"] = diff
            res["greedy_match"] = res["greedy"] == ref["greedy"][j]
            ok = ok and diff <= args.tol and res["greedy_match"]
        results.append(res)

    out = {
        "model_dir": os.path.abspath(d),
        "architecture": (model.config.architectures or [type(model).__name__])[0],
        "model_type": model.config.model_type,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "loading_info": info,
        "tie_word_embeddings": bool(getattr(model.config, "tie_word_embeddings", False)),
        "lm_head_in_file": "lm_head.weight" in keys,
        "results": results,
        "ok": ok,
    }
    json.dump(out, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    if not ok:
        print(f"check_hf_load: {d} does not match {args.reference} (tol {args.tol})", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
