# The two set-up commands of the README. Both create or reuse .venv and install what they need.
.PHONY: demo test test-long bench
demo:
	tools/venv.sh
	.venv/bin/thermospu demo

test:
	tools/venv.sh test,fpga
	tools/test.sh

test-long:
	tools/venv.sh test,fpga
	THERMOSPU_LONG=1 tools/test.sh -m "slow or not slow"

bench:
	tools/venv.sh test,fpga
	.venv/bin/python bench/run_all.py
