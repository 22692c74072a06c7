"""The gateware protocol engine's SET_PARAMS checks are the specification's table
(``wire.set_params_limits``, from ``config.JOB_LIMITS``), Amaranth simulator: every field at its
bound is accepted and one past it refused, as by the emulated device; and a bound changed in the
table is the bound the elaborated engine enforces."""

from __future__ import annotations

import dataclasses

from protocol_harness import EngineSession, Oracle, make_dut, simulate

from thermospu.rtl.spec import config as spec_config
from thermospu.rtl.spec import wire
from thermospu.rtl.spec.config import JobParams, SPUConfig
from thermospu.rtl.spec.wire import Command, Status

CONFIG = SPUConfig(n=4, lanes=2, a_bits=10, b_bits=12, x_bits=18, out_bits=10, max_samples_log2=16)
BASE = JobParams(n_active=1, k=0, b_shift=0, sigma_q=0, sigma_shift=0, burn_in=0, samples=1)


def _bound_cases() -> list[tuple[str, int, Status]]:
    """(field, value, expected status) for each SET_PARAMS field at and just past its bounds."""
    cases = []
    base = wire.decode_params(wire.encode_params(BASE, 1))
    for name, (lo, hi) in wire.set_params_limits(CONFIG, 1).items():
        for value, status in ((lo, Status.OK), (hi, Status.OK), (lo - 1, Status.BAD_ARGUMENT),
                              (hi + 1, Status.BAD_ARGUMENT)):
            if 0 <= value <= wire.SET_PARAMS.max_value(name):
                cases.append((name, wire.SET_PARAMS.pack(**dict(base, **{name: value})), status))
    return cases


def _answers(cases) -> tuple[list, list]:
    """Status of each SET_PARAMS in ``cases`` from the simulated engine and the emulator."""
    dut = make_dut(CONFIG)
    session = EngineSession(dut)
    oracle = Oracle(CONFIG, 64)
    got, want = [], []

    async def testbench(ctx):
        for seq, (_, payload, _) in enumerate(cases):
            frame = wire.encode_frame(Command.SET_PARAMS, seq & 0xFF, payload)
            (response,) = await session.exchange(ctx, frame)
            got.append(Status(response.status))
            want.append(Status(oracle.exchange(frame)[0].status))

    simulate(dut, testbench)
    oracle.close()
    return got, want


def test_set_params_bounds_match_the_table_and_the_emulator():
    cases = _bound_cases()
    got, want = _answers(cases)
    expected = [status for _, _, status in cases]
    assert got == expected, [(name, g) for (name, _, _), g, e in zip(cases, got, expected) if g != e]
    assert want == expected


def test_a_bound_changed_in_the_table_is_the_one_the_engine_enforces(monkeypatch):
    changed = tuple(dataclasses.replace(limit, hi=7) if limit.name == "k" else limit
                    for limit in spec_config.JOB_LIMITS)
    monkeypatch.setattr(spec_config, "JOB_LIMITS", changed)
    base = wire.decode_params(wire.encode_params(BASE, 1))
    cases = [("k", wire.SET_PARAMS.pack(**dict(base, k=k)), status)
             for k, status in ((7, Status.OK), (8, Status.BAD_ARGUMENT))]
    got, want = _answers(cases)
    assert got == want == [Status.OK, Status.BAD_ARGUMENT]
