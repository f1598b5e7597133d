"""Peak memory and training speed of one O1-Pruner step at the DeepSeek-R1-Distill-Qwen-1.5B
shape, ours (`prune`) against PyTorch (transformers + PEFT) in the same run, as ratios.

    cargo xtask bench-memory -- [--layers 28] [--seq-lens 1024,2048]
        [--rows freeze4,lora16] [--checkpointing both|on|off] [--threads 2] [--limit-gb 21]
        [--timeout-min 25]

A random checkpoint of the 1.5B shape (hidden 1536, 12 / 2 heads, SwiGLU 8960, vocabulary
151,936, tied; bf16 on disk, loaded in f32; `--layers` of them, 28 as published) and, per
sequence length L, a pool of one problem with two samples of L and L - 124 tokens. Each row
trains one optimizer step of two micro-batches (token_budget = L) with the precomputed
reference, then saves, on both sides:

- `freeze4`: the last 4 decoder layers train (`trainable_last_layers = 4`);
- `lora16`: LoRA rank 16, alpha 32, every linear layer of every decoder layer (`[lora]`;
  PEFT on the PyTorch side);
- `freeze4-bf16mixed`: `freeze4` with `dtype = "bf16-mixed"` (bf16 compute, f32 masters of
  the trainable layers, frozen weights stored in bf16); `torch.autocast("cpu", bf16)` over the
  f32 model on the PyTorch side;

each with and without gradient checkpointing (`gradient_checkpointing = true`;
`gradient_checkpointing_enable()`). Peak memory is the process's VmHWM; tokens/s is response
tokens over the step's wall time (forward, backward and AdamW of both micro-batches, not the
load, the reference pass or the save). A process whose resident memory passes `--limit-gb` is
killed and its row says so, as is one still running after `--timeout-min` minutes (PyTorch's
bf16 autocast on a CPU without bf16 matrix units takes far longer than f32). Both sides use `--threads` threads (RAYON_NUM_THREADS,
torch.set_num_threads). Needs torch, transformers and peft, and a built
`target/release/examples/prune`.

Prints a Markdown table and writes target/bench-memory/results.json.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from random_checkpoint import write_model  # noqa: E402

PROMPT = "Q: what is 1 + 2?\nA:"


def write_pool(path, seq_len, vocab):
    os.makedirs(path, exist_ok=True)
    rng = random.Random(1)
    with open(os.path.join(path, "samples.jsonl"), "w") as f:
        for j, n in enumerate([seq_len - len(PROMPT), seq_len - len(PROMPT) - 124]):
            ids = [rng.randrange(2, vocab) for _ in range(n)]
            f.write(json.dumps({
                "problem_id": "p0", "sample_index": j, "prompt": PROMPT, "response": "",
                "token_ids": ids, "num_tokens": n, "finish_reason": "eos", "extracted": None,
                "correct": True,
            }) + "\n")


ROWS = {
    # row: (our tuning keys, our dtype, the PyTorch side's flags)
    "freeze4": ("trainable_last_layers = 4", "f32", ["--tuning", "freeze:4"]),
    "lora16": ("\n[lora]\nrank = 16\nalpha = 32.0", "f32", ["--tuning", "lora:16"]),
    "freeze4-bf16mixed": ("trainable_last_layers = 4", "bf16-mixed",
                          ["--tuning", "freeze:4", "--bf16-mixed"]),
}


def run_config(model, pool, out, seq_len, row, checkpointing):
    tuning, dtype, _ = ROWS[row]
    return f"""model = "{model}"
samples = "{pool}"
out = "{out}"
dtype = "{dtype}"
gradient_checkpointing = {str(checkpointing).lower()}
seed = 0
checkpoint_every = 0

[reward]
lambda = 2.0
normalization = "none"
samples_per_problem = 0

[loss]
ratio = "token_mean"

[optim]
lr = 1e-6
warmup_ratio = 0.0
batch_size = 2
token_budget = {seq_len}
epochs = 1
max_seq_len = {seq_len}
{tuning}
"""


def watch(command, env, limit_gb, timeout_s, log):
    """Runs `command`, polling its resident memory; returns (exit code, peak bytes, why killed
    or None, seconds, stdout)."""
    t0 = time.time()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=open(log, "w"),
                            text=True)
    hwm, killed = 0, None
    while proc.poll() is None:
        try:
            status = dict(l.split(":", 1) for l in open(f"/proc/{proc.pid}/status").read().splitlines())
            rss = int(status["VmRSS"].split()[0]) * 1024
            hwm = max(hwm, int(status["VmHWM"].split()[0]) * 1024)
        except (OSError, KeyError, ValueError):
            break
        if rss > limit_gb * 1e9:
            proc.kill()
            killed = f"over {limit_gb:.0f} GB (killed)"
        elif time.time() - t0 > timeout_s:
            proc.kill()
            killed = f"not done in {timeout_s / 60:.0f} min (killed; peak so far {hwm / 1e9:.2f} GB)"
        time.sleep(0.05)
    out = proc.stdout.read()
    rc = proc.wait()
    return rc, hwm, killed, time.time() - t0, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--seq-lens", default="1024,2048")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--checkpointing", default="both", choices=["both", "on", "off"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit-gb", type=float, default=21.0)
    ap.add_argument("--timeout-min", type=float, default=25.0)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-memory"))
    ap.add_argument("--prune", default=os.path.join(ROOT, "target", "release", "examples", "prune"))
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, f"model-{args.layers}l")
    vocab = write_model(model, 151936, 1536, 8960, args.layers, 12, 2, True)
    gcs = {"both": [False, True], "on": [True], "off": [False]}[args.checkpointing]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads), OMP_NUM_THREADS=str(args.threads))
    results = []
    print("| row | tokens | checkpointing | ours: peak GB, tok/s | PyTorch: peak GB, tok/s | memory ratio | speed ratio |")
    print("|---|---:|---|---|---|---:|---:|")
    for seq_len in [int(s) for s in args.seq_lens.split(",")]:
        pool = os.path.join(args.work, f"pool-{seq_len}")
        write_pool(pool, seq_len, vocab)
        for row in args.rows.split(","):
            for gc in gcs:
                name = f"{row}-{seq_len}-gc{int(gc)}"
                ours_dir = os.path.join(args.work, "ours-" + name)
                subprocess.run(["rm", "-rf", ours_dir])
                with open(ours_dir + ".toml", "w") as f:
                    f.write(run_config(model, pool, ours_dir, seq_len, row, gc))
                rc, peak, killed, wall, _ = watch([args.prune, "--config", ours_dir + ".toml"],
                                                  env, args.limit_gb,
                                                  args.timeout_min * 60, ours_dir + ".err")
                ours = {"exit": rc, "peak_gb": peak / 1e9, "killed": killed, "wall_s": wall}
                if rc == 0:
                    line = open(os.path.join(ours_dir, "metrics.jsonl")).readline()
                    ours["tokens_per_second"] = json.loads(line)["tokens_per_second"]
                torch_dir = os.path.join(args.work, "torch-" + name)
                subprocess.run(["rm", "-rf", torch_dir])
                command = [sys.executable, os.path.join(HERE, "memory_step_torch.py"), model, pool,
                           torch_dir, *ROWS[row][2], "--threads", str(args.threads)]
                if gc:
                    command.append("--gradient-checkpointing")
                rc, peak, killed, wall, out = watch(command, env, args.limit_gb,
                                                    args.timeout_min * 60, torch_dir + ".err")
                theirs = {"exit": rc, "peak_gb": peak / 1e9, "killed": killed, "wall_s": wall}
                if rc == 0:
                    step = json.loads(out.strip().splitlines()[-1])
                    theirs["tokens_per_second"] = step["response_tokens"] / step["step_seconds"]
                results.append({"row": row, "tokens": seq_len, "checkpointing": gc,
                                "ours": ours, "pytorch": theirs})

                def cell(side):
                    if side["killed"]:
                        return side["killed"]
                    if side["exit"] != 0:
                        return f"failed (exit {side['exit']})"
                    return f"{side['peak_gb']:.2f}, {side['tokens_per_second']:.1f}"

                both = ours.get("tokens_per_second") and theirs.get("tokens_per_second")
                mem = f"{ours['peak_gb'] / theirs['peak_gb']:.2f}x" if both else "-"
                speed = f"{ours['tokens_per_second'] / theirs['tokens_per_second']:.2f}x" if both else "-"
                print(f"| {row} | {seq_len} | {'on' if gc else 'off'} | {cell(ours)} | {cell(theirs)} | {mem} | {speed} |",
                      flush=True)
                with open(os.path.join(args.work, "results.json"), "w") as f:
                    json.dump({"layers": args.layers, "threads": args.threads, "rows": results}, f,
                              indent=1)


if __name__ == "__main__":
    main()
