"""Parameters with units, sources and ranges: the framework every profile of the cost model uses.

A profile (:class:`~.hardware.DigitalHardware`, :class:`~.hardware.AnalogSPU`,
:class:`~.workloads.KFACSchedule`...) is a frozen dataclass whose numeric fields are made by
:func:`parameter`: each carries its unit (``"s"``, ``"B/s"``, ``"FLOP/s"``, ``"1"`` for
dimensionless...), the source of its default and the range the model is meant for, checked by
:func:`validate`. :func:`with_overrides` changes fields from strings with units
(:func:`parse_quantity`), and :func:`parameter_table` lists them for the report.
"""

from __future__ import annotations

import dataclasses
import math
import re

__all__ = ["CostModelError", "parameter", "validate", "parameter_table", "parse_quantity",
           "with_overrides"]


class CostModelError(ValueError):
    """A cost-model parameter or workload is missing, of the wrong unit, or outside the range
    the model is meant for; the message names the parameter, its unit and the allowed range."""


# --- parameters with units, sources and plausible ranges ---------------------------------------

def parameter(default, unit: str, source: str, lo: float, hi: float, *, integer: bool = False,
           optional: bool = False):
    """A dataclass field carrying its unit, the source of its default and its allowed range."""
    return dataclasses.field(default=default, metadata={
        "unit": unit, "source": source, "range": (lo, hi), "integer": integer,
        "optional": optional})


def validate(obj) -> None:
    """Raise :class:`CostModelError` if a field made by :func:`parameter` is missing, not a
    number, not whole where it must be, or outside its range; the message gives the unit."""
    for f in dataclasses.fields(obj):
        if "unit" not in f.metadata:
            continue
        value = getattr(obj, f.name)
        lo, hi = f.metadata["range"]
        unit = f.metadata["unit"]
        where = f"{type(obj).__name__}.{f.name}"
        if value is None:
            if f.metadata["optional"]:
                continue
            raise CostModelError(f"{where} is required ({unit})")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CostModelError(f"{where} must be a number in {unit}, got {value!r}")
        if f.metadata["integer"] and int(value) != value:
            raise CostModelError(f"{where} must be a whole number of {unit}, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise CostModelError(
                f"{where}={value!r} {unit} is outside the range [{lo:g}, {hi:g}] {unit} this "
                f"model is meant for")


def parameter_table(obj) -> list[tuple[str, str, str, str]]:
    """Rows (name, value, unit, source) of a parameter dataclass. The source is the field's for a
    default value, the profile's ``source`` for a value the profile sets, and "set by the user"
    for one changed through :func:`with_overrides`."""
    rows = []
    for f in dataclasses.fields(obj):
        if "unit" in f.metadata and f.name not in getattr(obj, "unused_parameters", ()):
            value = getattr(obj, f.name)
            if f.name in obj.overridden:
                source = "set by the user"
            elif value != f.default:
                source = obj.source or "set by this profile"
            else:
                source = f.metadata["source"]
            rows.append((f.name, "none" if value is None else f"{value:g}", f.metadata["unit"],
                         source))
    return rows


_SI_PREFIX = {"": 1.0, "f": 1e-15, "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "m": 1e-3,
              "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


def parse_quantity(text: str, unit: str) -> float:
    """Parse ``"1 us"``, ``"25 GB/s"``, ``"10MS/s"``, ``"1e-6"`` into a number in ``unit``.

    ``unit`` is the parameter's unit (``"s"``, ``"B/s"``, ``"S/s"``, ``"FLOP/s"``, ``"Hz"``,
    ``"bit"``, ``"1"`` for dimensionless...). A bare number is taken to be in ``unit``; a suffix
    must be an SI prefix followed by exactly ``unit``, else :class:`CostModelError`.
    """
    match = _QUANTITY.match(str(text))
    if not match:
        raise CostModelError(f"cannot read {text!r} as a number with an optional unit ({unit})")
    value, suffix = float(match.group(1)), match.group(2)
    if not suffix or (unit == "1" and suffix == "1"):
        return value
    if unit != "1":
        for prefix, scale in _SI_PREFIX.items():
            if suffix == prefix + unit:
                return value * scale
    raise CostModelError(f"unit {suffix!r} of {text!r} is not {unit!r} "
                         f"(with an optional SI prefix)")


def with_overrides(obj, overrides: dict):
    """A copy of a parameter dataclass with fields replaced; values may be numbers or strings
    with units (:func:`parse_quantity`). Unknown names raise :class:`CostModelError`."""
    fields = {f.name: f for f in dataclasses.fields(obj)}
    changes = {}
    for name, value in overrides.items():
        if name not in fields or "unit" not in fields[name].metadata:
            known = sorted(k for k, f in fields.items() if "unit" in f.metadata)
            raise CostModelError(f"{type(obj).__name__} has no parameter {name!r}; known: {known}")
        meta = fields[name].metadata
        if isinstance(value, str):
            value = None if value.lower() == "none" and meta["optional"] else \
                parse_quantity(value, meta["unit"])
        if value is not None and meta["integer"] and float(value).is_integer():
            value = int(value)
        changes[name] = value
    overridden = tuple(sorted(set(obj.overridden) | set(changes)))
    return dataclasses.replace(obj, **changes, overridden=overridden)
