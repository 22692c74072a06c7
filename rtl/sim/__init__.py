"""Simulation tooling for the gateware: the cocotb runner (:mod:`.runner`), the TCP simulation
server (:mod:`.server`, ``thermospu sim-server``) and the cocotb module it runs (:mod:`.bridge`).
"""
