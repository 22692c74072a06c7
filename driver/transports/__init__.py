"""Transports behind :func:`thermospu.driver.open`: URI -> backend speaking the wire protocol.

==============================  ===============================================================
URI                             what answers
==============================  ===============================================================
``model``, ``model?n=16&...``   the golden model behind an in-process device (:mod:`.model`)
``sim:icarus``, ``sim:verilator``  the gateware (protocol engine + core) in a simulator under
                                cocotb, started by the driver and reached over loopback TCP
``sim://HOST:PORT``             a simulation started with ``thermospu sim-server``
``serial:/dev/ttyUSB1?baud=N``  a board over pyserial (default 3 Mbaud, the boards' default)
``auto``                        a board if one is attached, else ``model`` (:mod:`.auto`)
==============================  ===============================================================

Emulating transports (``model``, ``sim:*``) take the machine as :class:`SPUConfig` fields in
keyword arguments or URI options. A device that reports its own configuration (``serial:``,
``sim://``, and whatever ``auto`` finds) takes the same fields as *requirements*, checked against
its INFO answer: ``n`` is the least number of cells needed, every other field must equal the
device's; a device that cannot honour them is closed and a :class:`ConfigError` says which field
differs. Every transport also takes ``timeout`` (seconds per request) and ``retries`` (extra
attempts on a lost or corrupted frame) and ``deadline`` (seconds one device call may take in
all; by default derived from the job's size, see :meth:`.protocol.FramedBackend.default_deadline`),
checked by :func:`.protocol.check_link_options` before anything is opened.

Every transport also takes the analog impairments of :mod:`.impairments` (docs/spu.md, "Analog
impairments"): ``coupling_mismatch``, ``self_mismatch``, ``dac_gain_error``, ``dac_offset``,
``adc_gain_error``, ``adc_offset``, ``noise_spread`` (floats >= 0, relative std or fraction of
full scale; default 0) and ``impairment_seed`` (the chip's fixed pattern; default 0), e.g.
``model?coupling_mismatch=0.02&impairment_seed=3``. They are applied on the host side, so the same
imprecise chip can be emulated, simulated or put in front of a board; with all sizes 0 the
transport is returned unwrapped, its answers bit-identical.
"""

from __future__ import annotations

import numbers
import urllib.parse

from thermospu.rtl.spec.config import ConfigError, SPUConfig

from ..errors import TransportError
from .base import Backend
from .impairments import IMPAIRMENT_OPTIONS, ImpairedBackend, Impairments

__all__ = ["Backend", "ImpairedBackend", "Impairments", "KNOWN_URIS", "SCHEMES", "emulates",
           "open_backend", "parse_uri"]

#: URI schemes, and how their URIs look (for messages).
SCHEMES = ("model", "sim", "serial", "auto")
KNOWN_URIS = ("'model', 'model?n=...', 'sim:icarus', 'sim:verilator', 'sim://HOST:PORT', "
              "'serial:/dev/ttyUSB1?baud=...', 'auto'")
#: Options every transport accepts besides SPUConfig fields: name -> type.
LINK_OPTIONS = {"timeout": float, "retries": int, "deadline": float}
#: Options of single transports.
TRANSPORT_OPTIONS = {"serial": {"baud": int}, "sim": {"max_request_payload": int},
                     "auto": {"baud": int}}


def parse_uri(uri: str) -> tuple[str, str, dict]:
    """``"serial:/dev/ttyUSB1?baud=115200"`` -> ("serial", "/dev/ttyUSB1", {"baud": "115200"}).

    The scheme is the part before the first ``:`` (or the whole URI before ``?``)."""
    if not isinstance(uri, str) or not uri:
        raise TransportError(f"a device URI must be a non-empty string, got {uri!r}")
    head, _, query = uri.partition("?")
    scheme, _, target = head.partition(":")
    try:
        options = dict(urllib.parse.parse_qsl(query, strict_parsing=True)) if query else {}
    except ValueError:
        raise TransportError(f"malformed options {query!r} in device URI {uri!r}") from None
    return scheme, target, options


def _typed(options: dict, allowed: dict, uri: str) -> dict:
    out = {}
    for key, value in options.items():
        kind = allowed.get(key)
        if kind is None:
            raise ConfigError(f"unknown option {key!r} for {uri!r}; known: {sorted(allowed)}")
        # Text (from a URI) is parsed; a Python value must already be of the kind: 8.9 cells or
        # True retries are refused, not truncated.
        exact = isinstance(value, str) or (
            not isinstance(value, bool)
            and isinstance(value, numbers.Integral if kind is int else numbers.Real))
        try:
            if not exact:
                raise TypeError
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"option {key}={value!r} for {uri!r} is not "
                              f"{'an integer' if kind is int else 'a number'}") from None
    return out


def emulates(uri: str) -> bool:
    """True for the URIs whose machine is built from the SPUConfig fields given to
    :func:`open_backend` (``model``, ``sim:icarus``, ``sim:verilator``); False for devices that
    report their own (``serial:``, ``sim://``) and for ``auto``, which may find either."""
    scheme, target, _ = parse_uri(uri)
    return scheme == "model" or (scheme == "sim" and not target.startswith("//"))


def open_backend(uri: str = "model", **kwargs) -> Backend:
    """Open the transport named by ``uri``.

    Keyword arguments and URI options: SPUConfig fields (emulating transports only), ``timeout``,
    ``retries`` and ``deadline`` (all), the impairments of :data:`.impairments.IMPAIRMENT_OPTIONS`
    (all), ``baud`` (serial), ``max_request_payload`` (sim). Keyword arguments win over URI
    options. A non-zero impairment returns the transport wrapped in an
    :class:`~.impairments.ImpairedBackend`; otherwise the transport itself.
    """
    from .protocol import check_link_options

    scheme, target, uri_options = parse_uri(uri)
    # Keyword values are checked as given (a bool or 1.5 retries is refused, not converted);
    # strings, like URI options, after conversion below.
    check_link_options({k: v for k, v in kwargs.items()
                        if k in LINK_OPTIONS and v is not None and not isinstance(v, str)})
    config_fields = {name: int for name in SPUConfig.__dataclass_fields__}
    allowed = {**LINK_OPTIONS, **IMPAIRMENT_OPTIONS, **TRANSPORT_OPTIONS.get(scheme, {}),
               **config_fields}
    options = _typed(uri_options, allowed, uri)
    options.update(_typed({k: v for k, v in kwargs.items() if v is not None}, allowed, uri))
    link_options = check_link_options({k: options.pop(k) for k in list(options)
                                       if k in LINK_OPTIONS})
    impairments = Impairments.from_options({k: options.pop(k) for k in list(options)
                                            if k in IMPAIRMENT_OPTIONS})
    backend = _open(scheme, target, uri, options, link_options)
    return ImpairedBackend(backend, impairments) if impairments.active else backend


def _open(scheme: str, target: str, uri: str, options: dict, link_options: dict) -> Backend:
    """The transport itself, from typed options (SPUConfig fields and its own)."""
    config_fields = SPUConfig.__dataclass_fields__
    if scheme == "serial" or (scheme == "sim" and not emulates(uri)):
        required = {k: options.pop(k) for k in list(options) if k in config_fields}
        return _checked(_open_reporting(scheme, target, uri, options, link_options), required)

    if scheme == "model":
        if target:
            raise TransportError(f"'model' takes no target, got {uri!r}")
        from .model import ModelBackend
        return ModelBackend(SPUConfig.from_dict(options), name=uri, **link_options)
    if scheme == "sim":
        from .sim import SimBackend
        extra = {k: options.pop(k) for k in list(options) if k in TRANSPORT_OPTIONS["sim"]}
        return SimBackend.start(target, SPUConfig.from_dict(options), name=uri, **extra,
                                **link_options)
    if scheme == "auto":
        from .auto import open_auto
        return open_auto(**options, **link_options)
    raise TransportError(f"unknown device URI {uri!r}; known: {KNOWN_URIS}")


def _open_reporting(scheme: str, target: str, uri: str, options: dict,
                    link_options: dict) -> Backend:
    """Open a device that reports its own configuration (a board, a running sim-server)."""
    if scheme == "sim":
        from .sim import SimBackend
        host, _, port = target[2:].rpartition(":")
        if not host or not port.isdigit():
            raise TransportError(f"expected sim://HOST:PORT, got {uri!r}")
        if options:
            raise ConfigError(f"{sorted(options)} of {uri!r} are set when `thermospu sim-server` "
                              f"starts, not when a host connects")
        return SimBackend.connect(host, int(port), name=uri, **link_options)
    if not target:
        raise TransportError(f"expected serial:PORT, e.g. serial:/dev/ttyUSB1, got {uri!r}")
    from .serial_port import SerialBackend
    return SerialBackend(target, name=uri, **options, **link_options)


def _checked(backend: Backend, required: dict) -> Backend:
    """``backend`` if its reported configuration meets ``required`` (SPUConfig fields: ``n`` a
    least number of cells, every other field exact); else it is closed and ConfigError says
    what differs."""
    reported = backend.config.to_dict()
    unmet = [f"{field}={value} (the device has {reported[field]})"
             for field, value in required.items()
             if (reported[field] < value if field == "n" else reported[field] != value)]
    if unmet:
        backend.close()
        mine = ", ".join(f"{k}={v}" for k, v in reported.items())
        raise ConfigError(f"{backend.name} reports {mine}; it cannot give "
                          f"{', '.join(unmet)}. A board's widths are fixed when it is built "
                          f"(thermospu build); leave them unset to use the device's own.")
    return backend
