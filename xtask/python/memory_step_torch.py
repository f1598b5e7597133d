"""One O1-Pruner training step in PyTorch on the pool and checkpoint of `bench_memory.py`: the
reference side of `cargo xtask bench-memory`.

    python xtask/python/memory_step_torch.py MODEL_DIR POOL_DIR OUT_DIR \
        --tuning freeze:4|lora:16 [--gradient-checkpointing] [--bf16-mixed] [--threads 2]

What `prune` does with the bench's run config, as a transformers (+ PEFT) user writes it: load
the checkpoint in f32; freeze all but the last N decoder layers (embedding, final norm and the
tied head frozen too), or attach PEFT LoRA adapters of rank R, alpha 2R, no dropout, to every
linear layer of every decoder layer; optionally `gradient_checkpointing_enable()` (non-reentrant)
and bf16 autocast; reference log-probs of both samples under no_grad; one step: each sample a
micro-batch (forward, token-mean-ratio clipped objective, backward, gradients summed),
clip_grad_norm_(10), AdamW (lr 1e-6, eps 1e-8); then save (the model, or the adapter and the
merged model). Prints one JSON line: the step's seconds and response tokens.
"""

import argparse
import json
import os
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("pool")
    ap.add_argument("out")
    ap.add_argument("--tuning", required=True)
    ap.add_argument("--gradient-checkpointing", action="store_true")
    ap.add_argument("--bf16-mixed", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    kind, n = args.tuning.split(":")
    n = int(n)
    if kind == "freeze":
        layers = model.model.layers
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in layers[len(layers) - n :]:
            for p in layer.parameters():
                p.requires_grad_(True)
    elif kind == "lora":
        from peft import LoraConfig, get_peft_model

        targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        model = get_peft_model(model, LoraConfig(r=n, lora_alpha=2 * n, lora_dropout=0.0,
                                                 target_modules=targets, task_type="CAUSAL_LM"))
    else:
        raise SystemExit(f"--tuning {args.tuning}: freeze:N or lora:R")
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()

    # The bench's checkpoint has a character-level WordLevel tokenizer (one id per character).
    vocab = json.load(open(os.path.join(args.model, "tokenizer.json")))["model"]["vocab"]
    samples = [json.loads(line) for line in open(os.path.join(args.pool, "samples.jsonl"))]
    sequences = []
    for s in samples:
        prompt = [vocab.get(c, vocab["<unk>"]) for c in s["prompt"]]
        ids = torch.tensor([prompt + s["token_ids"]])
        mask = torch.zeros(1, ids.shape[1] - 1)
        mask[:, len(prompt) - 1 :] = 1.0
        sequences.append((ids, mask, 1.0 if s["sample_index"] % 2 == 0 else -1.0))
    response_tokens = sum(len(s["token_ids"]) for s in samples)

    def logprobs(ids, mask):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16_mixed):
            logits = model(input_ids=ids[:, :-1]).logits
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
        return logp * mask

    with torch.no_grad():
        refs = [logprobs(ids, mask) for ids, mask, _ in sequences]
    trainable = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(trainable, lr=1e-6, eps=1e-8, weight_decay=0.0)

    start = time.perf_counter()
    for (ids, mask, advantage), ref in zip(sequences, refs):
        logp = logprobs(ids, mask)
        ratio = (((logp - ref) * mask).sum() / mask.sum()).exp()
        objective = torch.minimum(ratio * advantage, ratio.clamp(0.8, 1.2) * advantage)
        (-objective / len(sequences)).backward()
    torch.nn.utils.clip_grad_norm_(trainable, 10.0)
    optim.step()
    optim.zero_grad(set_to_none=True)
    step_seconds = time.perf_counter() - start

    if kind == "lora":
        model.save_pretrained(os.path.join(args.out, "adapter"))
        model = model.merge_and_unload()
    model.save_pretrained(os.path.join(args.out, "model"))
    print(json.dumps({"step_seconds": step_seconds, "response_tokens": response_tokens,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
