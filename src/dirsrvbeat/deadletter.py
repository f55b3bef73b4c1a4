"""Dead-letter sink: lines or documents that could not be processed are kept, never dropped."""

from __future__ import annotations

import os
import sys
from typing import IO, Any

import orjson


class MalformedLine(ValueError):
    """Raised in strict mode; the message names the file and line."""

    def __init__(self, path: str, lineno: int, reason: str, text: str) -> None:
        super().__init__(f"{path}:{lineno}: {reason}: {text[:200]!r}")
        self.path = path
        self.lineno = lineno
        self.reason = reason


class DeadLetter:
    """Appends one JSON object per rejected item (file, line, offset, reason, raw text)."""

    def __init__(self, path: str | None = None, stream: IO[bytes] | None = None) -> None:
        self.path = path
        self._stream = stream
        self._own = False
        self.count = 0

    def _out(self) -> IO[bytes]:
        if self._stream is None:
            if self.path is None or self.path == "-":
                self._stream = sys.stderr.buffer
            else:
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
                self._stream = open(self.path, "ab")  # noqa: SIM115 - closed in close()
                self._own = True
        return self._stream

    def add(self, **item: Any) -> None:
        self.count += 1
        if self.path is None and self._stream is None:
            return  # counting only
        self._out().write(orjson.dumps(item, default=str) + b"\n")

    def close(self) -> None:
        if self._own and self._stream is not None:
            self._stream.close()
        self._stream = None
