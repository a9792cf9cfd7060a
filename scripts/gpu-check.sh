#!/usr/bin/env bash
# For a GPU machine whose PyTorch 2.11.0 lives elsewhere (e.g. /opt/torch/.venv):
# points the solon binary built here at that libtorch, prints what it sees, and
# times a few hundred LeNet iterations on cuda vs cpu.
# Usage: scripts/gpu-check.sh [path/to/solon] [python-with-torch]
set -euo pipefail
bin=${1:-target/release/solon}
py=${2:-/opt/torch/.venv/bin/python}
torch_lib=$("$py" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
"$bin" info
iters=${ITERS:-300}
for dev in cuda cpu; do
  echo "== $dev: lenet, $iters iterations, 8 workers x 16 samples"
  "$bin" train --device "$dev" --dataset synthetic --model lenet --workers 8 --batch-size 128 \
    --iterations "$iters" --eval-every "$iters" --out "/tmp/gpu-check-$dev.csv"
done
