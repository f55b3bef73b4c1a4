"""NDJSON output: one JSON document per line, to stdout or a file (orjson, buffered)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

from ..plugins import register


@dataclass
class OutputStats:
    documents: int = 0
    bytes: int = 0
    by_dataset: dict[str, int] | None = None


@register("output", "ndjson")
class NdjsonOutput:
    def __init__(self, path: str | None = None, stream: IO[bytes] | None = None,
                 buffer_bytes: int = 1 << 20) -> None:
        self.path = path
        if stream is not None:
            self.stream = stream
            self._own = False
        elif path is None or path == "-":
            self.stream = sys.stdout.buffer
            self._own = False
        else:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self.stream = open(path, "wb")  # noqa: SIM115 - closed in close()
            self._own = True
        self.buffer_bytes = buffer_bytes
        self.stats = OutputStats(by_dataset={})

    def write(self, docs: Iterator[dict[str, Any]]) -> OutputStats:
        dumps = orjson.dumps
        buf: list[bytes] = []
        size = 0
        count = 0
        limit = self.buffer_bytes
        write = self.stream.write
        for doc in docs:
            data = dumps(doc, option=orjson.OPT_APPEND_NEWLINE)
            buf.append(data)
            size += len(data)
            count += 1
            if size >= limit:
                write(b"".join(buf))
                buf.clear()
                self.stats.bytes += size
                size = 0
        if buf:
            write(b"".join(buf))
            self.stats.bytes += size
        self.stats.documents += count
        try:
            self.stream.flush()
        except BrokenPipeError:
            pass
        return self.stats

    def close(self) -> None:
        if self._own:
            self.stream.close()
