#!/usr/bin/env bash
# What a `pip install` user gets: build the wheel from this tree, install it into a fresh
# virtualenv outside the checkout (PyTorch's CPU wheel first, so nothing downloads CUDA), then
# from another folder run `thermospu --help`, `thermospu demo --help`, a small solve and the
# whole `thermospu demo`. CI runs this after `make test`.
# Usage: tools/wheel_smoke.sh [--no-demo]
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
work=$(mktemp -d /tmp/thermospu-wheel-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/venv"
pip=("$work/venv/bin/python" -m pip -q)
"${pip[@]}" install --upgrade pip
"${pip[@]}" wheel --no-deps -w "$work/dist" .
"${pip[@]}" install --retries 2 --timeout 30 \
    --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
"${pip[@]}" install "$work"/dist/thermospu-*.whl
mkdir "$work/elsewhere" && cd "$work/elsewhere"
"$work/venv/bin/thermospu" --help >/dev/null
"$work/venv/bin/thermospu" demo --help >/dev/null
"$work/venv/bin/python" - <<'PY'
import numpy as np
import thermospu.driver as spu
A = np.array([[2.0, 0.5], [0.5, 1.0]]); b = np.array([1.0, -1.0])
x = spu.open("model", n=4).solve(A, b, samples=4000, seed=1)
err = np.linalg.norm(x - np.linalg.solve(A, b)) / np.linalg.norm(np.linalg.solve(A, b))
assert err < 0.1, err
print(f"wheel smoke: solve from the installed wheel, relative error {err:.4f}")
PY
if [ "${1:-}" != "--no-demo" ]; then
    "$work/venv/bin/thermospu" demo
fi
echo "wheel smoke: the installed wheel works outside the checkout"
