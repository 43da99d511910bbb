#!/usr/bin/env bash
# Fetch, into .whl/ (git-ignored), the wheels bench/gpu_check.sh installs on the lent GPU machines:
# Keras and the two packages it needs that their image lacks (optree, namex), for its Python 3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir .whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d .whl "keras==$(.venv/bin/python -c 'from importlib.metadata import version; print(version("keras"))')" optree namex
ls -l .whl
