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
keyword arguments or URI options; a board reports its own configuration. Every transport also
takes ``timeout`` (seconds per request) and ``retries`` (extra attempts on a lost or corrupted
frame).
"""

from __future__ import annotations

import urllib.parse

from thermospu.rtl.spec.config import ConfigError, SPUConfig

from ..errors import TransportError
from .base import Backend

__all__ = ["Backend", "KNOWN_URIS", "SCHEMES", "open_backend", "parse_uri"]

#: URI schemes, and how their URIs look (for messages).
SCHEMES = ("model", "sim", "serial", "auto")
KNOWN_URIS = ("'model', 'model?n=...', 'sim:icarus', 'sim:verilator', 'sim://HOST:PORT', "
              "'serial:/dev/ttyUSB1?baud=...', 'auto'")
#: Options every transport accepts besides SPUConfig fields: name -> type.
LINK_OPTIONS = {"timeout": float, "retries": int}
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
        try:
            out[key] = kind(value)
        except (TypeError, ValueError):
            raise ConfigError(f"option {key}={value!r} for {uri!r} is not a {kind.__name__}") from None
    return out


def open_backend(uri: str = "model", **kwargs) -> Backend:
    """Open the transport named by ``uri``.

    Keyword arguments and URI options: SPUConfig fields (emulating transports only), ``timeout``
    and ``retries`` (all), ``baud`` (serial), ``max_request_payload`` (sim). Keyword arguments
    win over URI options.
    """
    scheme, target, uri_options = parse_uri(uri)
    config_fields = {name: int for name in SPUConfig.__dataclass_fields__}
    allowed = {**LINK_OPTIONS, **TRANSPORT_OPTIONS.get(scheme, {})}
    if scheme in ("model", "sim", "auto") and not target.startswith("//"):
        allowed.update(config_fields)
    options = _typed(uri_options, allowed, uri)
    options.update(_typed({k: v for k, v in kwargs.items() if v is not None}, allowed, uri))
    link_options = {k: options.pop(k) for k in list(options) if k in LINK_OPTIONS}

    if scheme == "model":
        if target:
            raise TransportError(f"'model' takes no target, got {uri!r}")
        from .model import ModelBackend
        return ModelBackend(SPUConfig.from_dict(options), name=uri, **link_options)
    if scheme == "sim":
        from .sim import SimBackend
        if target.startswith("//"):
            host, _, port = target[2:].rpartition(":")
            if not host or not port.isdigit():
                raise TransportError(f"expected sim://HOST:PORT, got {uri!r}")
            return SimBackend.connect(host, int(port), name=uri, **link_options)
        extra = {k: options.pop(k) for k in list(options) if k in TRANSPORT_OPTIONS["sim"]}
        return SimBackend.start(target, SPUConfig.from_dict(options), name=uri, **extra,
                                **link_options)
    if scheme == "serial":
        if not target:
            raise TransportError(f"expected serial:PORT, e.g. serial:/dev/ttyUSB1, got {uri!r}")
        from .serial_port import SerialBackend
        return SerialBackend(target, name=uri, **options, **link_options)
    if scheme == "auto":
        from .auto import open_auto
        return open_auto(**options, **link_options)
    raise TransportError(f"unknown device URI {uri!r}; known: {KNOWN_URIS}")
