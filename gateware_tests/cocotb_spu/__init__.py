"""cocotb verification of SPUCore: host-bus driver and monitor (host.py), random jobs (jobs.py),
golden-model scoreboard (scoreboard.py) and the cocotb tests (spu_tests.py).

The simulator imports ``cocotb_spu.spu_tests`` with ``gateware_tests/`` on its Python path;
gateware_tests/test_cocotb_spu.py builds the Verilog and starts the runs.
"""
