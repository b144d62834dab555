"""Durations as people type them on a command line: ``250ms``, ``30s``, ``2m``, ``1.5h``, ``7d``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)\s*$")


def parse_duration(text: str) -> timedelta:
    """Parse ``<number><unit>`` (units ms, s, m, h, d) into a non-negative timedelta.

    A unit is required: a bare ``60`` is refused because it reads as seconds to some and as
    minutes or records to others.
    """
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: use a number and a unit (ms, s, m, h, d), e.g. 30s, 2m, 7d"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def format_duration(value: timedelta | float) -> str:
    """The shortest exact spelling of a duration: ``90s`` stays ``90s``, ``86400s`` is ``1d``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds < 1 and (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds:g}s"
