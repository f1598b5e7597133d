#!/usr/bin/env bash
# Builds a minimal libtorch 2.9.0 folder for burn-tch (torch-sys 0.22) from PyPI wheels, so the
# `tch` backend builds offline from model hubs. Prints the folder; use it as
#   LIBTORCH=<folder> LD_LIBRARY_PATH=<folder>/lib cargo test --release --features tch ...
# The download (~870 MB) is cached in $O1P_CACHE (default ~/.cache/o1-pruner).
set -euo pipefail
cache=${O1P_CACHE:-$HOME/.cache/o1-pruner}
out=$cache/libtorch-2.9.0
if [ -f "$out/.complete" ]; then echo "$out"; exit 0; fi
mkdir -p "$cache/wheels"
python3 -m pip download -q --no-deps -d "$cache/wheels" \
  torch==2.9.0 nvidia-cuda-runtime-cu12==12.8.90 nvidia-cuda-cupti-cu12==12.8.90 >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for w in "$cache"/wheels/torch-2.9.0-*.whl "$cache"/wheels/nvidia_cuda_runtime_cu12-*.whl "$cache"/wheels/nvidia_cuda_cupti_cu12-*.whl; do
  python3 -m zipfile -e "$w" "$work" >&2
done
rm -rf "$out"; mkdir -p "$out/lib"
cp -r "$work/torch/include" "$out/include"
# torch-sys links libtorch_cpu, libc10 and (by name) libtorch; the CUDA parts are left out, so
# an empty libtorch.so stands in for the umbrella library.
cp "$work/torch/lib/libtorch_cpu.so" "$work/torch/lib/libc10.so" "$out/lib/"
cp "$work"/torch/lib/libgomp*.so* "$out/lib/" 2>/dev/null || true
cp "$work"/nvidia/cuda_runtime/lib/libcudart.so.12 "$out/lib/"
cp "$work"/nvidia/cuda_cupti/lib/libcupti.so.12 "$out/lib/"
echo "" > "$work/empty.c"
gcc -shared -fPIC -o "$out/lib/libtorch.so" "$work/empty.c"
touch "$out/.complete"
echo "$out"
