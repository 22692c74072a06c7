"""Environment switches of the gateware tests (no cocotb import: pytest reads these too)."""

from __future__ import annotations

import os

__all__ = ["long_run", "simulators_required", "need_simulator"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def long_run() -> bool:
    """True when the long random sets were asked for (``THERMOSPU_LONG=1``)."""
    return _flag("THERMOSPU_LONG")


def simulators_required() -> bool:
    """True when a missing simulator must fail the test (CI) rather than skip it."""
    return _flag("THERMOSPU_REQUIRE_SIMULATORS")


def need_simulator(simulator: str) -> None:
    """Skip (or, with THERMOSPU_REQUIRE_SIMULATORS=1, fail) when ``simulator`` cannot run here;
    the message names the install command."""
    import pytest

    from thermospu.rtl.sim.runner import missing_simulator_reason

    reason = missing_simulator_reason(simulator)
    if reason is None:
        return
    if simulators_required():
        pytest.fail(f"{reason} (THERMOSPU_REQUIRE_SIMULATORS=1 makes this an error)",
                    pytrace=False)
    pytest.skip(reason)
