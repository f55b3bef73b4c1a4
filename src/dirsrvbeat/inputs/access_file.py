"""Access-log files as a stream of lines: plain, gzip (by magic bytes), or stdin.

Each line comes with its file, byte offset and line number, so a bad line can be named and
a shipper can resume at a byte offset. Bytes that are not UTF-8 are replaced (U+FFFD) and the
line is flagged; nothing is dropped.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, NamedTuple

from ..plugins import register

GZIP_MAGIC = b"\x1f\x8b"
ROTATED_SUFFIX = re.compile(r"\.(\d{8}-\d{6})(\.gz)?$")


class Line(NamedTuple):
    path: str
    offset: int  # byte offset of the line's first byte (in the decompressed stream for .gz)
    lineno: int
    text: str
    bad_utf8: bool
    end: int = -1  # byte offset just past the line (where the next read resumes)


@dataclass
class ReadStats:
    files: int = 0
    bytes: int = 0
    lines: int = 0
    bad_utf8_lines: int = 0
    missing_files: int = 0


def open_log(path: str) -> IO[bytes]:
    """Open a log for binary reading; gzip is recognised by content, not by name."""
    if path == "-":
        return sys.stdin.buffer
    f = open(path, "rb")  # noqa: SIM115 - the caller owns the handle
    head = f.read(2)
    f.seek(0)
    if head == GZIP_MAGIC:
        f.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return f


def rotation_order_key(path: str) -> tuple[int, str]:
    """Rotated files `access.YYYYMMDD-HHMMSS[.gz]` sort by their stamp, the live `access` last."""
    m = ROTATED_SUFFIX.search(path)
    return (0, m.group(1)) if m else (1, path)


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Expand globs and directories (a directory means its `access*` files) in rotation order."""
    paths: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            paths.append(pattern)
            continue
        if os.path.isdir(pattern):
            found = [p for p in glob.glob(os.path.join(pattern, "access*"))
                     if not p.endswith(("rotationinfo", ".lock"))]
        elif glob.has_magic(pattern):
            found = [p for p in glob.glob(pattern) if not p.endswith(("rotationinfo", ".lock"))]
        else:
            found = [pattern]
        paths.extend(sorted(found, key=rotation_order_key))
    return paths


def iter_lines(path: str, stream: IO[bytes], start_offset: int = 0, start_lineno: int = 0,
               keep_partial_last_line: bool = True, stats: ReadStats | None = None) -> Iterator[Line]:
    """Lines of one open stream. With keep_partial_last_line=False a last line without `\\n`
    (still being written) is left for the next run."""
    offset = start_offset
    lineno = start_lineno
    for raw in stream:
        if raw[-1:] != b"\n" and not keep_partial_last_line:
            break
        lineno += 1
        length = len(raw)
        try:
            text = raw.decode("utf-8")
            bad = False
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
            bad = True
            if stats is not None:
                stats.bad_utf8_lines += 1
        if text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]
        yield Line(path, offset, lineno, text, bad, offset + length)
        offset += length
    if stats is not None:
        stats.lines += lineno - start_lineno
        stats.bytes += offset - start_offset


@register("input", "access_file")
class AccessFileInput:
    """Reads every given path (globs, directories, `-` for stdin) in rotation order."""

    def __init__(self, paths: Iterable[str], keep_partial_last_line: bool = True) -> None:
        self.paths = expand_paths(paths)
        self.keep_partial_last_line = keep_partial_last_line
        self.stats = ReadStats()
        self.errors: list[str] = []

    def read(self) -> Iterator[Line]:
        for path in self.paths:
            try:
                stream = open_log(path)
            except OSError as exc:
                self.stats.missing_files += 1
                self.errors.append(f"{path}: {exc.strerror or exc}")
                continue
            self.stats.files += 1
            try:
                yield from iter_lines(path, stream, keep_partial_last_line=self.keep_partial_last_line,
                                      stats=self.stats)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                self.errors.append(f"{path}: read error after {self.stats.lines} lines: {exc}")
            finally:
                if stream is not sys.stdin.buffer:
                    stream.close()
