"""The plugin registry: inputs, processors and outputs registered by name (Beats/Logstash style).

A pipeline is a chain `input -> processor* -> output`. Each stage is a class registered with
`@register("processor", "join")`; a YAML pipeline names stages and gives their options, and
`create("processor", "join", **options)` builds one.

Interfaces (structural; any object with these methods fits):
  input:      `read() -> Iterator[item]`
  processor:  `process(items: Iterator) -> Iterator`
  output:     `write(items: Iterator) -> OutputStats`, `close()`
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

KINDS = ("input", "processor", "output")
_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}

T = TypeVar("T", bound=type)


class Input(Protocol):
    def read(self) -> Iterator[Any]: ...


class Processor(Protocol):
    def process(self, items: Iterator[Any]) -> Iterator[Any]: ...


class Output(Protocol):
    def write(self, items: Iterator[Any]) -> Any: ...

    def close(self) -> None: ...


class UnknownPlugin(KeyError):
    pass


def register(kind: str, name: str) -> Callable[[T], T]:
    if kind not in _REGISTRY:
        raise ValueError(f"unknown plugin kind {kind!r}")

    def deco(cls: T) -> T:
        _REGISTRY[kind][name] = cls
        cls.plugin_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def _load_builtins() -> None:
    # Importing the modules registers their plugins.
    from .inputs import access_file  # noqa: F401
    from .outputs import ndjson  # noqa: F401
    from .processors import stages  # noqa: F401

    for optional in ("dirsrvbeat.outputs.elasticsearch", "dirsrvbeat.inputs.ldap_monitor",
                     "dirsrvbeat.processors.classify"):
        try:
            __import__(optional)
        except ImportError:
            pass


def available(kind: str) -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY[kind])


def create(kind: str, name: str, **options: Any) -> Any:
    _load_builtins()
    try:
        cls = _REGISTRY[kind][name]
    except KeyError:
        raise UnknownPlugin(f"no {kind} plugin named {name!r} (have: {', '.join(sorted(_REGISTRY[kind]))})") \
            from None
    return cls(**options)
