#!/usr/bin/env bash
# Create or reuse the project's virtualenv in .venv and install thermospu into it (editable).
# Usage: tools/venv.sh [EXTRAS]   e.g. tools/venv.sh test,fpga
# torch is installed first from PyTorch's CPU index (a local +cpu wheel wins where pip has one),
# so a CPU-only machine never downloads a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "thermospu needs Python >= 3.11 (found $("$python" --version))" >&2; exit 1; }
    "$python" -m venv .venv
fi
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
        .venv/bin/python -m pip install -q --retries 0 --timeout 15 \
            --extra-index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"
    fi
    spec="."
    [ -n "$extras" ] && spec=".[${extras}]"
    .venv/bin/python -m pip install -q -e "$spec"
    touch "$stamp"
fi
