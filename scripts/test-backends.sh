#!/usr/bin/env bash
# The backend-dependent suites (the decoder with its cache, padding and dtypes; transformers
# parity; the trainer's objective) on wgpu (Mesa's lavapipe, no GPU needed) and on libtorch
# (CPU), from one build that carries both backends. CI (.ci/run) runs the libtorch half on
# every commit; run this whole script before a release and after any change to o1p-model or
# o1p-trainer numerics: the wgpu stack (cubecl and its kernels) is ~45 % of this build, about
# 12 minutes on a 2-core machine, which per-commit CI cannot afford within its 40 minutes.
#
#   bash scripts/test-backends.sh            # wgpu and tch
#   bash scripts/test-backends.sh wgpu       # one of them
set -euo pipefail
cd "$(dirname "$0")/.."
backends=("${@:-wgpu tch}")
read -r -a backends <<< "${backends[*]}"
features=()
for b in "${backends[@]}"; do
  case $b in
    wgpu | tch) features+=("o1p-model/$b") ;;
    *) echo "unknown backend $b (wgpu or tch)" >&2; exit 2 ;;
  esac
done
feature_list=$(IFS=,; echo "${features[*]}")
# Built with the ci-backends profile (Cargo.toml: opt-level 1): the backend features rebuild
# every Burn crate anyway, and opt-level 1 builds them faster than release does.
backend_tests=(--profile ci-backends -p o1p-model -p o1p-trainer --lib --test decoder --test parity
  --test objective --features "$feature_list")
for b in "${backends[@]}"; do
  if [ "$b" = wgpu ] && ! dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  if [ "$b" = tch ]; then
    libtorch=$(bash scripts/fetch-libtorch.sh)
    export LIBTORCH=$libtorch LD_LIBRARY_PATH=$libtorch/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  fi
done
cargo test "${backend_tests[@]}" --no-run
for b in "${backends[@]}"; do
  echo "=== $b"
  if [ "$b" = tch ]; then
    O1P_TEST_BACKEND=tch O1P_TCH_CPU=1 cargo test "${backend_tests[@]}"
  else
    O1P_TEST_BACKEND=wgpu cargo test "${backend_tests[@]}"
  fi
done
