#!/usr/bin/env bash
# Peak resident memory (RSS) of one `prune` training step on the CPU, at the width of
# DeepSeek-R1-Distill-Qwen-1.5B (hidden 1536, 12 query / 2 KV heads, SwiGLU 8960, vocabulary
# 151,936, tied head) with fewer layers, so that it fits a shared machine.
#
#   cargo build --release --workspace --example prune
#   bash xtask/memory-step.sh [PRUNE_BINARY] [WORK_DIR]
#
# Environment: LAYERS (4), TRAINABLE (2: trainable_last_layers), LORA_RANK (0: off; N trains a
# rank-N LoRA with alpha 2N on every linear layer instead of freeze-tuning), SEQ_LEN (1024),
# GC (false: gradient_checkpointing), THREADS (2: RAYON_NUM_THREADS), LIMIT_GB (12: the run is
# killed, and reported as such, when its RSS passes it).
#
# The checkpoint has random bf16 weights (loaded in f32), a character-level tokenizer, and a
# pool of one problem with two samples of SEQ_LEN and SEQ_LEN - 124 tokens (token ids stored):
# one optimizer step of two micro-batches (token_budget = SEQ_LEN), precomputed reference.
# RSS (VmRSS of the prune process) is polled every 50 ms and split into phases by the files the
# run writes: `load + reference` until ref_logprobs.json appears, `step` until metrics.jsonl
# holds the step's line, then `save` (checkpoint and export). `peak` is the kernel's VmHWM / ru_maxrss.
# Python 3 standard library only.
set -euo pipefail
BIN=${1:-target/release/examples/prune}
WORK=${2:-target/memory-step}
LAYERS=${LAYERS:-4}
TRAINABLE=${TRAINABLE:-2}
LORA_RANK=${LORA_RANK:-0}
SEQ_LEN=${SEQ_LEN:-1024}
GC=${GC:-false}
THREADS=${THREADS:-2}
LIMIT_GB=${LIMIT_GB:-12}
[ -x "$BIN" ] || { echo "no prune binary at $BIN" >&2; exit 1; }
mkdir -p "$WORK"

PYTHONPATH="$(dirname "$0")/../scripts" python3 - "$WORK" "$LAYERS" "$SEQ_LEN" <<'PY'
import json, os, random, sys

from random_checkpoint import write_model

work, layers, seq_len = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
v = write_model(os.path.join(work, f"model-{layers}l"), 151936, 1536, 8960, layers, 12, 2, True)

pool = os.path.join(work, f"pool-{seq_len}")
os.makedirs(pool, exist_ok=True)
prompt = "Q: what is 1 + 2?\nA:"
rng = random.Random(1)  # the same pool whether or not the model was just written
with open(os.path.join(pool, "samples.jsonl"), "w") as f:
    for j, n in enumerate([seq_len - len(prompt), seq_len - len(prompt) - 124]):
        ids = [rng.randrange(2, v) for _ in range(n)]
        f.write(json.dumps({
            "problem_id": "p0", "sample_index": j, "prompt": prompt, "response": "",
            "token_ids": ids, "num_tokens": n, "finish_reason": "eos", "extracted": None,
            "correct": True,
        }) + "\n")
PY

TUNING="trainable_last_layers = $TRAINABLE"
SUFFIX=""
if [ "$LORA_RANK" != 0 ]; then
  TUNING=$(printf '\n[lora]\nrank = %s\nalpha = %s.0' "$LORA_RANK" "$((2 * LORA_RANK))")
  SUFFIX=-lora$LORA_RANK
fi
RUN=$WORK/run-${LAYERS}l-${SEQ_LEN}-gc$GC$SUFFIX
rm -rf "$RUN"
cat >"$RUN.toml" <<EOF
model = "$WORK/model-${LAYERS}l"
samples = "$WORK/pool-$SEQ_LEN"
out = "$RUN"
dtype = "f32"
gradient_checkpointing = $GC
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
token_budget = $SEQ_LEN
epochs = 1
max_seq_len = $SEQ_LEN
$TUNING
EOF
# A binary from before the gradient_checkpointing key refuses it as unknown; `false` is its
# only behaviour, so the key is dropped for it.
if [ "$GC" = false ] && ! "$BIN" --config "$RUN.toml" --print-config >/dev/null 2>&1; then
  sed -i '/^gradient_checkpointing/d' "$RUN.toml"
fi

RAYON_NUM_THREADS=$THREADS python3 - "$BIN" "$RUN" "$LIMIT_GB" <<'PY'
import os, resource, subprocess, sys, time

binary, run, limit_gb = sys.argv[1], sys.argv[2], float(sys.argv[3])
t0 = time.time()
proc = subprocess.Popen([binary, "--config", run + ".toml"], stdout=subprocess.DEVNULL,
                        stderr=open(run + ".err", "w"))
phases = {"load + reference": 0, "step": 0, "save": 0}
marks, hwm, killed = {}, 0, False
while proc.poll() is None:
    try:
        status = dict(l.split(":", 1) for l in open(f"/proc/{proc.pid}/status").read().splitlines())
        rss = int(status["VmRSS"].split()[0]) * 1024
        hwm = max(hwm, int(status["VmHWM"].split()[0]) * 1024)
    except (OSError, KeyError, ValueError):
        break  # exited (a zombie has no memory fields)
    metrics = os.path.join(run, "metrics.jsonl")
    if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
        phase = "save"
    elif os.path.exists(os.path.join(run, "ref_logprobs.json")):
        phase = "step"
    else:
        phase = "load + reference"
    marks.setdefault(phase, time.time() - t0)
    phases[phase] = max(phases[phase], rss)
    if rss > limit_gb * 1e9:
        proc.kill()
        killed = True
    time.sleep(0.05)
rc = proc.wait()
peak = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
gb = lambda b: f"{b / 1e9:.2f} GB"
print(f"{run}: exit {rc}{' (killed above the limit)' if killed else ''}, "
      f"{time.time() - t0:.0f} s; peak RSS {gb(peak)}")
for phase, value in phases.items():
    print(f"  {phase:<17} max RSS {gb(value)}  (from {marks.get(phase, float('nan')):.1f} s)")
sys.exit(0 if rc == 0 else 1)
PY
