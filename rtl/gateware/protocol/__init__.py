"""The wire protocol in gateware: byte streams in and out, the SPU core's host bus behind.

The device end of :mod:`thermospu.rtl.spec.wire` (docs/protocol.md), along the data path:

* :mod:`.receiver` -- ``FrameReceiver``: bytes -> a checked request (header, CRC, LEN against
  the buffer, idle timeout -> TRUNCATED), payload in the request buffer.
* :mod:`.checks` -- ``RequestChecks``: command known, LEN, BUSY, arguments, readiness.
* :mod:`.executor` -- ``CommandExecutor``: request -> host-bus accesses -> response header, with
  :mod:`.load_replay` (``LoadReplay``, LOAD_*), :mod:`.parameters` (``ParameterWriter``,
  SET_PARAMS) and :mod:`.response_reader` (``ResponseReader``, data of INFO, STATUS, READ_*).
* :mod:`.transmitter` -- ``FrameTransmitter``: response header + data -> bytes, CRC appended.
* :mod:`.engine` -- ``ProtocolEngine`` (the above composed) and ``StreamSPU`` (engine + core).

Why nothing the host sends can corrupt a job or hang the engine: a request's payload waits in
the buffer (``max_request_payload`` bytes, one block RAM) until its CRC has been checked, and a
LEN beyond the buffer is refused from the header alone; while the core is busy every command
that touches its memories or job registers is refused with BUSY before it reaches the bus; a
frame that stops arriving is dropped after ``idle_timeout`` cycles and answered TRUNCATED;
every request gets exactly one response and then the receiver hunts for SYNC again.
"""

from .engine import DEFAULT_MAX_REQUEST_PAYLOAD, ProtocolEngine, StreamSPU

__all__ = ["ProtocolEngine", "StreamSPU", "DEFAULT_MAX_REQUEST_PAYLOAD"]
