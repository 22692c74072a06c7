"""Transports behind :func:`thermospu.driver.open`: URI scheme -> backend."""

from __future__ import annotations

import urllib.parse

from thermospu.rtl.config import SPUConfig

from ..errors import TransportError
from .base import Backend
from .model import ModelBackend

__all__ = ["Backend", "open_backend"]


def _parse_query(query: str) -> dict:
    """``n=16&a_bits=8`` -> {"n": 16, "a_bits": 8} (SPUConfig fields are all integers)."""
    out = {}
    for key, value in urllib.parse.parse_qsl(query, strict_parsing=True):
        try:
            out[key] = int(value)
        except ValueError:
            raise TransportError(f"URI option {key}={value!r} is not an integer") from None
    return out


def open_backend(uri: str, **config_kwargs) -> Backend:
    """Open the transport named by ``uri``; config keyword arguments (and URI query options)
    describe the emulated machine."""
    scheme, _, rest = uri.partition("?")
    options = _parse_query(rest) if rest else {}
    options.update(config_kwargs)
    if scheme == "model":
        return ModelBackend(SPUConfig.from_dict(options), name=uri)
    raise TransportError(f"unknown device URI {uri!r}; known: 'model', 'model?n=...&...'")
