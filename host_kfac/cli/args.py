"""Argument types of the ``thermospu`` command line: every value is checked when it is parsed, so
a bad one ends in one ``usage`` line and exit status 2 before any work starts.

Ranges that the device defines (bit widths, cell counts) are not restated here: they are checked
by constructing the :class:`~thermospu.rtl.spec.config.SPUConfig` field they belong to.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path


class UsageError(Exception):
    """Options that are each valid but do not go together (the command prints its usage)."""


def _number(kind, text: str):
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _number(float, text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be greater than 0")
    return value


def fraction(text: str) -> float:
    """A number in [0, 1)."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 1)")
    return value


def seed(text: str) -> int:
    """A seed: an integer in [0, 2**64)."""
    value = _number(int, text)
    if not 0 <= value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, 2**64)")
    return value


def samples(text: str) -> int:
    """Samples per SPU job: at least 2 (one sample has no variance; ``Device`` refuses fewer) and
    no more than the largest device of the spec counts (2**max_samples_log2 at its maximum)."""
    from thermospu.rtl.spec.config import SPUConfig

    value = _number(int, text)
    largest = SPUConfig(n=1, max_samples_log2=32).max_samples
    if not 2 <= value <= largest:
        raise argparse.ArgumentTypeError(f"{value} samples is outside [2, {largest}]")
    return value


def config_field(field: str):
    """Type of an option that sets :class:`SPUConfig` field ``field``: the range is the spec's."""

    def parse(text: str) -> int:
        from thermospu.rtl.spec.config import ConfigError, SPUConfig

        value = _number(int, text)
        try:
            SPUConfig(**{"n": 4096, field: value})
        except ConfigError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return value

    parse.__name__ = field.replace("_", "-")
    return parse


def device_uri(text: str) -> str:
    """A device URI whose scheme and options are well formed (the device is opened later);
    ``{rank}`` in it stands for a process's rank (checked as rank 0)."""
    from thermospu.driver.errors import TransportError
    from thermospu.driver.transports import KNOWN_URIS, SCHEMES, parse_uri

    try:
        scheme, _, _ = parse_uri(text.replace("{rank}", "0"))
    except TransportError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if scheme not in SCHEMES:
        raise argparse.ArgumentTypeError(f"unknown device {text!r}; known: {KNOWN_URIS}")
    return text


def writable_dir(text: str) -> Path:
    """A folder that exists or can be made, and can be written to: checked before the work that
    would fill it (results are not lost at the end of a long run)."""
    path = Path(text)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".thermospu-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or error
        raise argparse.ArgumentTypeError(f"cannot write to {text!r}: {reason}") from None
    return path

