"""``ParameterWriter``: SET_PARAMS from the request buffer, every field checked before any is
written to the core's job registers."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..bounds import within
from ..hostbus import HostBusSignature
from ...spec import regmap as rm
from ...spec import wire
from ...spec.config import SPUConfig

__all__ = ["ParameterWriter"]

#: SET_PARAMS fields in payload order: (name, bytes).
_SET_PARAMS_FIELDS = wire.SET_PARAMS.field_bytes
#: Chains one job runs: the core has one (INFO's ``max_chains``).
MAX_CHAINS = 1
#: SET_PARAMS field -> the job register it goes to (``chains`` has none: the core has one).
_PARAM_REGISTERS = {field: reg for reg, field in rm.JOB_REGISTERS.items()}


class ParameterWriter(wiring.Component):
    """Two passes over the buffered SET_PARAMS fields: check all, then write all.

    Fields are little-endian unsigned in the buffer (layout ``wire.SET_PARAMS``), each
    checked against its own constant limits; a job register receives the field zero-extended
    to 64 bits. A refused SET_PARAMS writes nothing.

    Parameters
    ----------
    config : SPUConfig
        The limits of the fields (N, shifts, sigma code, samples).
    max_request_payload : int
        Request buffer size in bytes.

    Members
    -------
    start : In(1)
        Strobe: check and write the SET_PARAMS payload now in the buffer (idle only).
    done : Out(1)
        Strobe at the end: after the first field out of range, or after the last write.
    ok : Out(1)
        With ``done``: every field was in range and all were written.
    n_active : Out(range(N + 1))
        n_active of the last SET_PARAMS written (registered).
    moments : Out(1)
        moments of the last SET_PARAMS written (registered).
    buffer : In(ReadPort.Signature(addr_width, 8))
        Read port of the request buffer (data one cycle after addr); ``addr`` is 0 when idle.
    bus : Out(HostBusSignature())
        Writes only; every member 0 when idle.

    Attributes
    ----------
    limits : dict
        ``wire.set_params_limits(config, max_chains)``: field -> (lo, hi).
    value_bits : int
        Bits of the largest value a field may take (what a job register write needs).
    """

    def __init__(self, config: SPUConfig, *, max_request_payload: int, max_chains: int):
        self.config = config
        self.max_request_payload = max_request_payload
        self.max_chains = max_chains
        self.limits = wire.set_params_limits(config, max_chains)
        self.value_bits = max(hi for _, hi in self.limits.values()).bit_length()
        super().__init__({
            "start": In(1), "done": Out(1), "ok": Out(1),
            "n_active": Out(range(config.n + 1)), "moments": Out(1),
            "buffer": In(ReadPort.Signature(addr_width=ceil_log2(max_request_payload),
                                            shape=8)),
            "bus": Out(HostBusSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        request, buf_rd = self.bus, self.buffer
        replay_index = Signal(range(self.max_request_payload + 1))
        # The field being read, little-endian: only the bytes a limit can reach are kept, a
        # nonzero byte above them (the field is then out of range) only sets ``data_high``.
        limits = self.limits
        word_bytes = -(-self.value_bits // 8)
        data_word = Signal(8 * word_bytes)
        data_high = Signal()

        # --- SET_PARAMS: two passes over the buffered fields, check all, then write all ----
        field_index = Signal(range(len(_SET_PARAMS_FIELDS) + 1))
        field_byte = Signal(range(8))
        field_bytes = Signal(range(9))
        field_ok = Signal()
        field_in_range = Signal()          # field_ok of the completed field, registered
        field_last = Signal()
        field_register = Signal(8)
        field_has_register = Signal()
        writing_params = Signal()          # second pass
        # Each field is checked against its own constant limits; data_word holds only the
        # field's bytes (it is cleared before each field).
        with m.Switch(field_index):
            for index, (name, nbytes) in enumerate(_SET_PARAMS_FIELDS):
                with m.Case(index):
                    lo, hi = limits[name]
                    m.d.comb += [field_bytes.eq(nbytes),
                                 field_ok.eq(~data_high & within(
                                     data_word[:8 * min(nbytes, word_bytes)], lo, hi)),
                                 field_last.eq(index == len(_SET_PARAMS_FIELDS) - 1)]
                    if name in _PARAM_REGISTERS:
                        m.d.comb += [field_register.eq(_PARAM_REGISTERS[name]),
                                     field_has_register.eq(1)]

        with m.FSM(name="parameters"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [replay_index.eq(0), field_index.eq(0), field_byte.eq(0),
                                 writing_params.eq(0), data_word.eq(0), data_high.eq(0)]
                    m.next = "ADDRESS"

            with m.State("ADDRESS"):
                m.d.comb += buf_rd.addr.eq(replay_index)
                m.next = "DATA"

            with m.State("DATA"):
                m.d.sync += [replay_index.eq(replay_index + 1), field_byte.eq(field_byte + 1)]
                with m.Switch(field_byte):
                    for index in range(word_bytes):
                        with m.Case(index):
                            m.d.sync += data_word.word_select(index, 8).eq(buf_rd.data)
                    with m.Default():
                        m.d.sync += data_high.eq(data_high | buf_rd.data.any())
                with m.If(field_byte == field_bytes - 1):
                    m.next = "VERDICT"
                with m.Else():
                    m.next = "ADDRESS"

            with m.State("VERDICT"):
                # The range check of the completed field is registered: the decision of FIELD
                # (and the executor's, on ``done``) starts from a flip-flop.
                m.d.sync += field_in_range.eq(field_ok)
                m.next = "FIELD"

            with m.State("FIELD"):
                m.d.sync += [field_byte.eq(0), data_word.eq(0), data_high.eq(0),
                             field_index.eq(field_index + 1)]
                with m.If(~writing_params):
                    with m.If(~field_in_range):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Elif(field_last):
                        m.d.sync += [writing_params.eq(1), field_index.eq(0), replay_index.eq(0)]
                        m.next = "ADDRESS"
                    with m.Else():
                        m.next = "ADDRESS"
                with m.Else():
                    with m.If(field_has_register):
                        m.d.comb += [
                            request.addr.eq(rm.address(rm.REGION_REGS, 0) | field_register),
                            request.w_data.eq(data_word), request.w_stb.eq(1)]
                    with m.Switch(field_index):
                        for index, (name, _) in enumerate(_SET_PARAMS_FIELDS):
                            if name in ("n_active", "moments"):
                                with m.Case(index):
                                    target = self.n_active if name == "n_active" else self.moments
                                    m.d.sync += target.eq(data_word)
                    with m.If(field_last):
                        m.d.comb += [self.done.eq(1), self.ok.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "ADDRESS"
        return m
