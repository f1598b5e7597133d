"""Loads a LoRA run's adapter with PEFT and compares it with the run's merged export.

    python xtask/python/check_peft_adapter.py BASE_MODEL_DIR RUN_DIR [--tolerance 1e-4]

`RUN_DIR/adapter` is loaded onto BASE_MODEL_DIR with `peft.PeftModel.from_pretrained` (as a
user of TRL / vLLM would), `RUN_DIR/model` with transformers; the log-probs of the next token
of a few seeded random sequences must agree within the tolerance. (Our own model with the
adapter attached equals `RUN_DIR/model` to 1e-5: crates/o1p-trainer/tests/on_policy.rs.)
Prints one JSON line and exits 1 when they disagree.
"""

import argparse
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM


def logprobs(model, ids):
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, :-1].double()
        return torch.log_softmax(logits, dim=-1).gather(2, ids[:, 1:, None])[..., 0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("run")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    base = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    peft = PeftModel.from_pretrained(base, f"{args.run}/adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(f"{args.run}/model", dtype=torch.float32).eval()
    plain = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32).eval()
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, plain.config.vocab_size, (4, 48), generator=gen)
    with_adapter, with_merge, without = logprobs(peft, ids), logprobs(merged, ids), logprobs(plain, ids)
    gap = float((with_adapter - with_merge).abs().max())
    moved = float((with_adapter - without).abs().max())
    lora_tensors = sum(1 for n, _ in peft.named_parameters() if "lora_" in n)
    print(json.dumps({"peft_vs_merged_max_abs": gap, "adapter_vs_base_max_abs": moved,
                      "lora_tensors": lora_tensors, "tolerance": args.tolerance}))
    sys.exit(0 if gap <= args.tolerance and lora_tensors > 0 else 1)


if __name__ == "__main__":
    main()
