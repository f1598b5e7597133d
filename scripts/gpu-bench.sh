#!/usr/bin/env bash
# GPU measurements for docs/guide-gpu.md ("Measurements"): sampler tokens/s, training
# tokens/s and peak GPU memory, per backend (tch, wgpu), on random-weight checkpoints of the
# Qwen2.5-0.5B and DeepSeek-R1-Distill-Qwen-1.5B shapes. Needs no internet and no Rust
# toolchain: only python3 (standard library), nvidia-smi and prebuilt example binaries
# (`serve`, `prune`, `generate`) built with the backend's feature:
#
#   cargo build --release --features wgpu --example serve --example prune --example generate
#   LIBTORCH=<CUDA libtorch 2.9.0> cargo build --release --features tch --example serve ...
#
# Usage: bash scripts/gpu-bench.sh [RESULTS_DIR]        (default target/gpu-bench)
#
# RESULTS_DIR receives three files: results.tsv (one row per case), env.txt (machine and
# settings) and bench.log (every command's output). Scratch data (checkpoints of 1 and 3.6 GB,
# run directories) goes to $WORK (default target/gpu-bench-work) and is reused on a rerun.
#
# Environment (defaults in brackets):
# (An empty SAMPLE_SHAPES or TRAIN_CASES skips that part.)
#   BACKENDS       backends to measure ["tch wgpu"]
#   BIN            directory of the example binaries [target/release/examples]
#   BIN_TCH, BIN_WGPU  per-backend binary directories (when the two builds live apart) [$BIN]
#   SAMPLE_SHAPES  shapes for the sampler ["qwen2.5-0.5b r1-distill-1.5b"]
#   TRAIN_CASES    SHAPE:DTYPE:TUNING[:gc] cases for the trainer. DTYPE is the run config's
#                  `dtype` (f32, bf16-mixed, f16-mixed, bf16, f16); TUNING = "all", the number
#                  of trainable last layers, or "loraR" (rank-R LoRA, alpha 2R, on every linear
#                  layer, lr 1e-4); ":gc" turns gradient_checkpointing on
#                  ["qwen2.5-0.5b:f32:all r1-distill-1.5b:bf16-mixed:all
#                    r1-distill-1.5b:bf16-mixed:all:gc r1-distill-1.5b:bf16-mixed:lora16
#                    r1-distill-1.5b:f32:4 r1-distill-1.5b:f32:all"]
#   SEQ_LEN        training sequence length, prompt included [1024]
#   TRAIN_BATCH    sequences per optimizer step (the pool holds 40 sequences) [8]
#   TOKEN_BUDGET   padded tokens per training micro-batch [4096]
#   NEW_TOKENS_B1 / NEW_TOKENS_BN / BATCH_N   sampler: tokens at batch 1 / at batch N, and N
#                  [128 / 256 / 32]
#   DEADLINE_S     no case starts after this many seconds, and each case is cut at it [420]
#   CASE_LIMIT_S   longest a single case may run [150]
#   WORK           scratch directory [target/gpu-bench-work]
# A smoke run of the script itself on the CPU (no GPU needed):
#   BACKENDS=flex SAMPLE_SHAPES=tiny TRAIN_CASES="tiny:f32:all tiny:f32:1" SEQ_LEN=96 \
#     TOKEN_BUDGET=192 NEW_TOKENS_B1=16 NEW_TOKENS_BN=16 BATCH_N=4 bash scripts/gpu-bench.sh
set -uo pipefail

RESULTS=${1:-target/gpu-bench}
WORK=${WORK:-target/gpu-bench-work}
BACKENDS=${BACKENDS-"tch wgpu"}
BIN=${BIN:-target/release/examples}
SAMPLE_SHAPES=${SAMPLE_SHAPES-"qwen2.5-0.5b r1-distill-1.5b"}
TRAIN_CASES=${TRAIN_CASES-"qwen2.5-0.5b:f32:all r1-distill-1.5b:bf16-mixed:all r1-distill-1.5b:bf16-mixed:all:gc r1-distill-1.5b:bf16-mixed:lora16 r1-distill-1.5b:f32:4 r1-distill-1.5b:f32:all"}
SEQ_LEN=${SEQ_LEN:-1024}
TOKEN_BUDGET=${TOKEN_BUDGET:-4096}
TRAIN_BATCH=${TRAIN_BATCH:-8}
NEW_TOKENS_B1=${NEW_TOKENS_B1:-128}
NEW_TOKENS_BN=${NEW_TOKENS_BN:-256}
BATCH_N=${BATCH_N:-32}
DEADLINE_S=${DEADLINE_S:-420}
CASE_LIMIT_S=${CASE_LIMIT_S:-150}

mkdir -p "$RESULTS" "$WORK"
RESULTS=$(cd "$RESULTS" && pwd)
WORK=$(cd "$WORK" && pwd)
TSV=$RESULTS/results.tsv
LOG=$RESULTS/bench.log
: >"$LOG"
printf 'backend\tshape\tcase\tstatus\ttokens_per_s\tdetail\tpeak_gpu_mib\twall_s\n' >"$TSV"
START=$SECONDS

log() { echo "[$((SECONDS - START))s] $*" | tee -a "$LOG" >&2; }
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$TSV"; }
left() { echo $((DEADLINE_S - (SECONDS - START))); }
# Seconds the next case may run: CASE_LIMIT_S, or less near the deadline.
budget() {
  local l
  l=$(left)
  ((l < CASE_LIMIT_S)) && echo "$l" || echo "$CASE_LIMIT_S"
}
bin_for() {
  local var="BIN_${1^^}"
  echo "${!var:-$BIN}"
}

# --- GPU memory: nvidia-smi polled every 200 ms while a case runs; peak minus the reading
# before it. Without nvidia-smi the column says n/a.
HAVE_SMI=0
command -v nvidia-smi >/dev/null 2>&1 && HAVE_SMI=1
MON_PID=
gpu_used() { nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -1 | tr -d ' '; }
mon_start() {
  BASE_MIB=n/a
  MON_FILE=$WORK/mon.txt
  : >"$MON_FILE"
  if ((HAVE_SMI)); then
    BASE_MIB=$(gpu_used)
    nvidia-smi -i 0 --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$MON_FILE" 2>/dev/null &
    MON_PID=$!
  fi
}
mon_stop() {
  if [ -n "$MON_PID" ]; then
    kill "$MON_PID" 2>/dev/null
    wait "$MON_PID" 2>/dev/null
    MON_PID=
  fi
  if ((HAVE_SMI)) && [ -s "$MON_FILE" ] && [ "$BASE_MIB" != n/a ]; then
    local peak
    peak=$(tr -d ' ' <"$MON_FILE" | grep -E '^[0-9]+$' | sort -n | tail -1)
    echo $((${peak:-0} - BASE_MIB))
  else
    echo n/a
  fi
}

# A case whose GPU memory barely moved most likely ran on the CPU: libtorch without CUDA
# (tch falls back to the CPU silently), or wgpu on a software Vulkan driver.
on_gpu_hint() {
  if [ "$1" != n/a ] && (($1 < 256)); then
    echo "; GPU memory moved ${1} MiB only: did it run on the CPU?"
  fi
}

# --- 1. Environment.
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)"
  echo "uname: $(uname -srm)"
  if ((HAVE_SMI)); then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  else
    echo "nvidia-smi: not found (peak memory is n/a)"
  fi
  echo "vulkan loader: $(ldconfig -p 2>/dev/null | grep -c 'libvulkan\.so') entries in ldconfig"
  for v in BACKENDS BIN BIN_TCH BIN_WGPU SAMPLE_SHAPES TRAIN_CASES SEQ_LEN TRAIN_BATCH TOKEN_BUDGET \
    NEW_TOKENS_B1 NEW_TOKENS_BN BATCH_N DEADLINE_S CASE_LIMIT_S LIBTORCH LD_LIBRARY_PATH \
    VK_DRIVER_FILES; do
    echo "$v=${!v:-}"
  done
} >"$RESULTS/env.txt"

# --- 2. Random checkpoints and a training pool per shape (python3 standard library only).
# Weights are bf16 normal(0, 0.02) (norm gains 1), written by repeating one random block, so a
# 3.6 GB file takes seconds; a character-level tokenizer.json (ids 0..~100) stands in for the
# real one. The pool holds P problems x K samples of exactly known lengths with token ids, so
# the trainer's work per step is fixed.
ALL_SHAPES=$(printf '%s\n' $SAMPLE_SHAPES $(for c in $TRAIN_CASES; do echo "${c%%:*}"; done) tiny | sort -u)
log "writing checkpoints: $(echo $ALL_SHAPES)"
PYTHONPATH="$(dirname "$0")" python3 - "$WORK" "$SEQ_LEN" $ALL_SHAPES >>"$LOG" 2>&1 <<'PY' || { log "checkpoint generation failed (see $LOG)"; exit 1; }
import json, os, random, sys

import random_checkpoint

work, seq_len, shapes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
# (vocab, hidden, intermediate, layers, heads, kv_heads, tied): the published configs.
SHAPES = {
    "qwen2.5-0.5b": (151936, 896, 4864, 24, 14, 2, True),
    "r1-distill-1.5b": (151936, 1536, 8960, 28, 12, 2, False),
    "r1-distill-7b": (152064, 3584, 18944, 28, 28, 4, False),
    "tiny": (1000, 64, 128, 2, 4, 2, True),
}


def write_model(out, shape):
    return random_checkpoint.write_model(out, *SHAPES[shape])


def write_pool(out, vocab, problems=10, k=4):
    """P x K samples: responses of 75-100 % of the room left by the prompt, half correct."""
    os.makedirs(out, exist_ok=True)
    rng = random.Random(1)
    with open(os.path.join(out, "samples.jsonl"), "w") as f:
        for p in range(problems):
            prompt = f"Q: what is {p} + {p + 1}?\nA:"
            room = seq_len - len(prompt)
            for j in range(k):
                n = max(2, room - rng.randrange(0, max(1, room // 4)))
                ids = [rng.randrange(2, vocab) for _ in range(n)]
                f.write(json.dumps({
                    "problem_id": f"p{p}", "sample_index": j, "prompt": prompt,
                    "response": "", "token_ids": ids, "num_tokens": n,
                    "finish_reason": "eos", "extracted": None, "correct": (p + j) % 2 == 0,
                }) + "\n")


for shape in shapes:
    vocab = write_model(os.path.join(work, "models", shape), shape)
    write_pool(os.path.join(work, f"pool-{shape}-{seq_len}"), vocab)
    print(f"{shape}: ready")
PY
log "checkpoints ready"

# --- 3. Which backends the binaries can run (a one-token generation on the tiny model).
declare -A USABLE
for b in $BACKENDS; do
  bin=$(bin_for "$b")
  if [ ! -x "$bin/serve" ] || [ ! -x "$bin/prune" ] || [ ! -x "$bin/generate" ]; then
    log "$b: $bin lacks serve/prune/generate; skipped"
    row "$b" - check skipped - "no binaries in $bin" n/a 0
    continue
  fi
  if out=$(timeout 180 "$bin/generate" --model "$WORK/models/tiny" --prompt-ids 2,3 \
    --max-new-tokens 1 --backend "$b" 2>&1); then
    USABLE[$b]=1
    log "$b: usable"
  else
    reason=$(echo "$out" | tail -1)
    log "$b: not usable: $reason"
    row "$b" - check skipped - "$reason" n/a 0
  fi
  echo "$out" >>"$LOG"
done

# --- 4. Sampler: the `serve` example keeps the model loaded, so warm-up (kernel compilation,
# autotuning) stays out of the timed requests. Prompt: 64 token ids; temperature 0.5, top-p 0.8
# (the paper's pre-sampling settings); tokens/s = completion tokens / request wall time.
sample_case() {
  local b=$1 shape=$2 bin model lim t0 port out peak srv_log
  bin=$(bin_for "$b")
  model=$WORK/models/$shape
  lim=$(budget)
  if ((lim < 20)); then
    row "$b" "$shape" sampler skipped - "deadline" n/a 0
    return
  fi
  log "$b $shape sampler (limit ${lim}s)"
  srv_log=$WORK/serve.log
  t0=$SECONDS
  mon_start
  timeout "$lim" "$bin/serve" --model "$model" --backend "$b" --port 0 \
    --batch-size "$BATCH_N" --idle-timeout 60 >"$srv_log" 2>&1 &
  local srv=$!
  port=
  while kill -0 "$srv" 2>/dev/null; do
    port=$(sed -n 's#^listening on http://127.0.0.1:\([0-9]*\).*#\1#p' "$srv_log" | head -1)
    [ -n "$port" ] && break
    sleep 0.5
  done
  if [ -z "$port" ]; then
    wait "$srv"
    peak=$(mon_stop)
    cat "$srv_log" >>"$LOG"
    row "$b" "$shape" sampler failed - "$(tail -1 "$srv_log")" "$peak" $((SECONDS - t0))
    return
  fi
  log "$b $shape: model loaded in $((SECONDS - t0))s"
  out=$(python3 - "$port" "$NEW_TOKENS_B1" "$NEW_TOKENS_BN" "$BATCH_N" <<'PY' 2>&1
import json, sys, time, urllib.request

port, n1, nn, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
prompt = [2 + (i * 37) % 90 for i in range(64)]


def call(n, max_tokens):
    body = {"prompt": prompt, "n": n, "max_tokens": max_tokens, "temperature": 0.5,
            "top_p": 0.8, "seed": 7}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/completions",
                                 json.dumps(body).encode(), {"Content-Type": "application/json"})
    t = time.perf_counter()
    with urllib.request.urlopen(req, timeout=3600) as r:
        out = json.load(r)
    return out["usage"]["completion_tokens"], time.perf_counter() - t


w = time.perf_counter()
call(1, 8)
call(batch, 8)
print(f"warmup\t{time.perf_counter() - w:.1f}")
for name, n, m in (("b1", 1, n1), (f"b{batch}", batch, nn)):
    tokens, dt = call(n, m)
    print(f"{name}\t{tokens}\t{dt:.3f}\t{tokens / dt:.1f}")
PY
  )
  local rc=$?
  kill "$srv" 2>/dev/null
  wait "$srv" 2>/dev/null
  peak=$(mon_stop)
  { cat "$srv_log"; echo "$out"; } >>"$LOG"
  if ((rc != 0)); then
    row "$b" "$shape" sampler failed - "$(echo "$out" | tail -1)" "$peak" $((SECONDS - t0))
    return
  fi
  local warm
  warm=$(echo "$out" | awk -F'\t' '$1=="warmup"{print $2}')
  echo "$out" | awk -F'\t' '$1!="warmup"' | while IFS=$'\t' read -r name tokens secs rate; do
    row "$b" "$shape" "sampler-$name" ok "$rate" \
      "$tokens tokens in ${secs}s; warm-up ${warm}s$(on_gpu_hint "$peak")" "$peak" $((SECONDS - t0))
  done
  log "$b $shape sampler done: $(echo "$out" | tr '\t\n' ' ;')"
}

# --- 5. Trainer: the `prune` example on the pool, O1-Pruner objective as in the marco-o1-7b
# preset (token-mean ratio, clipped z-scored rewards, precomputed reference) with
# checkpoint_every = 0. tokens/s = the median of metrics.jsonl's per-step tokens_per_second
# (response tokens) over the steps after the first.
train_case() {
  local b=$1 shape=$2 dtype=$3 layers=$4 gc=$5 bin model lim t0 dir peak rc
  bin=$(bin_for "$b")
  model=$WORK/models/$shape
  local name="train-$dtype-$layers"
  [[ "$layers" = all || "$layers" = lora* ]] || name="train-$dtype-last$layers"
  [ "$gc" = true ] && name="$name-gc"
  if [ "$b" = wgpu ] && [[ "$dtype" = bf16* ]]; then
    row "$b" "$shape" "$name" skipped - "bf16 is not a WGSL type of Burn's wgpu backend" n/a 0
    return
  fi
  lim=$(budget)
  if ((lim < 30)); then
    row "$b" "$shape" "$name" skipped - "deadline" n/a 0
    return
  fi
  dir=$WORK/run-$b-$shape-$name
  rm -rf "$dir"
  mkdir -p "$dir"
  local trainable="" lr=2e-7
  case $layers in
    all) ;;
    lora*)
      # Adapters start at zero: LoRA recipes train at 1e-5 to 2e-4, not full tuning's 2e-7.
      lr=1e-4
      trainable=$(printf '\n[lora]\nrank = %s\nalpha = %s.0' "${layers#lora}" "$((2 * ${layers#lora}))")
      ;;
    *) trainable="trainable_last_layers = $layers" ;;
  esac
  cat >"$dir.toml" <<EOF
model = "$model"
samples = "$WORK/pool-$shape-$SEQ_LEN"
out = "$dir"
backend = "$b"
dtype = "$dtype"
gradient_checkpointing = $gc
seed = 0
checkpoint_every = 0

[reward]
lambda = 2.0
clip = [-2.0, 4.0]
normalization = "dataset_z_score"
samples_per_problem = 0

[loss]
ratio = "token_mean"

[optim]
lr = $lr
warmup_ratio = 0.0
batch_size = $TRAIN_BATCH
token_budget = $TOKEN_BUDGET
epochs = 1
max_seq_len = $SEQ_LEN
$trainable
EOF
  log "$b $shape $name (limit ${lim}s)"
  t0=$SECONDS
  mon_start
  timeout "$lim" "$bin/prune" --config "$dir.toml" >"$dir.out" 2>&1
  rc=$?
  peak=$(mon_stop)
  cat "$dir.out" >>"$LOG"
  if ((rc != 0)); then
    local why
    why=$(tail -1 "$dir.out")
    ((rc == 124)) && why="timeout after ${lim}s"
    row "$b" "$shape" "$name" failed - "$why" "$peak" $((SECONDS - t0))
    rm -rf "$dir"
    return
  fi
  local summary
  summary=$(python3 - "$dir/metrics.jsonl" "$TRAIN_BATCH" <<'PY'
import json, statistics, sys

steps = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
batch = int(sys.argv[2])
rates = [s["tokens_per_second"] for s in steps[1:]] or [steps[0]["tokens_per_second"]]
# Every step holds `batch` sequences (the pool is a multiple of it).
secs = [s["completions/mean_length"] * batch / s["tokens_per_second"] for s in steps]
print(f"{statistics.median(rates):.1f}\t{len(steps)} steps, step 1 {secs[0]:.2f}s, "
      f"median step {statistics.median(secs[1:] or secs):.2f}s")
PY
  )
  row "$b" "$shape" "$name" ok "${summary%%$'\t'*}" "${summary#*$'\t'}$(on_gpu_hint "$peak")" \
    "$peak" $((SECONDS - t0))
  log "$b $shape $name done: $summary"
  rm -rf "$dir"
}

# --- 6. Cases, interleaved across backends so that a slow backend cannot starve the other
# before the deadline.
for shape in $SAMPLE_SHAPES; do
  for b in $BACKENDS; do
    [ -n "${USABLE[$b]:-}" ] && sample_case "$b" "$shape"
  done
done
for c in $TRAIN_CASES; do
  IFS=: read -r shape dtype layers gc <<<"$c"
  gc=$([ "$gc" = gc ] && echo true || echo false)
  for b in $BACKENDS; do
    [ -n "${USABLE[$b]:-}" ] && train_case "$b" "$shape" "$dtype" "$layers" "$gc"
  done
done

log "done in $((SECONDS - START))s; results in $TSV"
column -t -s $'\t' "$TSV" 2>/dev/null || cat "$TSV"
