#!/usr/bin/env bash
# The first GPU figures, in one call of the device tool (bench/README.md, "The machines"). The lent GPU
# machines have JAX and PyTorch but no TensorFlow, and reach no registry: Keras and its two missing
# pieces travel as wheels in .whl/ (bench/gpu_wheels.sh fetches them for the image's Python 3.12).
#
#   bash bench/gpu_wheels.sh                      # here, once: .whl/ (about 3 MB)
#   run(command="bash bench/gpu_check.sh", carry=[".whl"], timeout_s=540)   # there
#
# On JAX on the GPU, one after another: keras-io's convnet (the peer), `quick` with seeds 1-3, `full`
# with seed 1 (bench/train_bench.py), then one JSON in $OUT: the card (nvidia-smi), the versions, each
# run's seconds and accuracies. Locally, on the CPU JAX backend, to check it before spending device
# time: PYTHON=.runtimes/backends/jax/bin/python OUT=/tmp/gpu bash bench/gpu_check.sh --only quick
# --seeds 1 --set epochs=1 (extra arguments go to train_bench.py and replace the default recipes).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export KERAS_BACKEND=${KERAS_BACKEND:-jax} PYTHONUNBUFFERED=1
if [ -d .whl ] && ! "$PYTHON" -c "import keras" 2>/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
# the package from the working tree, with its NumPy CSV parser (the C one is not built there)
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/card.txt" 2>/dev/null \
    || echo "no nvidia-smi" > "$OUT/card.txt"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--only keras-io,quick,full --seeded quick --seeds 1,2,3)
"$PYTHON" bench/train_bench.py --backend "$KERAS_BACKEND" "${args[@]}" --json "$OUT/train_bench.json" \
    2>&1 | tee "$OUT/log.txt"
"$PYTHON" - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
bench = json.loads((out / "train_bench.json").read_text())
bench["card"] = (out / "card.txt").read_text().strip()
(out / "gpu_check.json").write_text(json.dumps(bench, indent=2))
print("wrote", out / "gpu_check.json", "for", bench["card"], "on", bench["execution"]["backend"])
PY
