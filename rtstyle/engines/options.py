"""``--ort NAME=VALUE``: EngineOptions fields set by name from the command line.

The names and their types are the dataclass's own fields, so a new option
needs no parser change; a bad name or value is a ValueError (one line on
stderr from the CLI).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from .base import EngineOptions

TRUE, FALSE = ("1", "true", "on", "yes"), ("0", "false", "off", "no")
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "layout", "all")


def _value(name: str, kind: type, text: str) -> object:
    text = text.strip().lower()
    if kind is bool:
        if text in TRUE + FALSE:
            return text in TRUE
        raise ValueError(f"--ort {name} takes on/off, got {text!r}")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"--ort {name} takes an integer, got {text!r}") from None
    if name == "optimization" and text not in OPTIMIZATION_LEVELS:
        raise ValueError(f"--ort optimization takes one of {', '.join(OPTIMIZATION_LEVELS)}, got {text!r}")
    return text


def with_settings(options: EngineOptions, settings: Iterable[str]) -> EngineOptions:
    """``options`` with each ``NAME=VALUE`` of ``settings`` applied, in order."""
    # Field annotations are strings here (postponed evaluation): map them to the types they name.
    kinds = {f.name: {"bool": bool, "int": int}.get(str(f.type), str) for f in dataclasses.fields(EngineOptions)}
    changes = {}
    for item in settings:
        name, sep, text = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in kinds:
            raise ValueError(f"--ort expects NAME=VALUE with NAME one of {', '.join(kinds)}; got {item!r}")
        changes[name] = _value(name, kinds[name], text)
    return dataclasses.replace(options, **changes)
