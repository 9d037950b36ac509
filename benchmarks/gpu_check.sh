#!/usr/bin/env bash
# The GPU check of issue 29, for one run on a GPU machine (no network there), < 8 minutes.
#
# Here, once (needs the package registry):   bash benchmarks/gpu_check.sh --fetch
#   downloads into .whl/ the wheels the GPU machine's image lacks (skorch,
#   pytorch-metric-learning, kornia; Python 3.12, manylinux x86-64) -- .whl/ is git-ignored.
# There, from the repository root, carrying .whl:   bash benchmarks/gpu_check.sh
#   installs them beside the machine's own CUDA torch (never another torch), runs the tests
#   marked `cuda`, then benchmarks/gpu_check.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS="skorch==1.4.0 pytorch-metric-learning==2.9.0 kornia==0.9.0 kornia_rs==0.2.0"

if [[ "${1:-}" == "--fetch" ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  $PY -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl $WHEELS
  ls -la .whl
  exit 0
fi

export PYTHONUNBUFFERED=1
if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, skorch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('torch', torch.__version__, 'skorch', skorch.__version__)"
echo "== tests marked cuda"
timeout 150 $PY -m pytest -q -m cuda -p no:cacheprovider -o addopts="" tests/test_cuda.py \
  tests/test_precision.py || echo "(cuda tests failed or timed out: see above)"
echo "== throughput"
timeout 300 $PY benchmarks/gpu_check.py "$@"
