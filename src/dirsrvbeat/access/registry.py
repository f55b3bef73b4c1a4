"""The shipper's registry: which part of which file has been delivered, plus the carried-over
pipeline state. Written atomically (temp file + fsync + rename) so a crash leaves the old or
the new version, never a torn one.

A file is known by the fingerprint of its first bytes (decompressed for `.gz`), so a file
renamed by rotation, or compressed afterwards, keeps its identity; device and inode are kept
alongside to tell apart files whose head is not yet long enough to fingerprint.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from ..inputs.access_file import open_log

FINGERPRINT_BYTES = 1024
REGISTRY_VERSION = 1


@dataclass
class FileState:
    fingerprint: str  # sha256 of the first fp_len bytes (decompressed)
    fp_len: int
    path: str
    dev: int
    ino: int
    offset: int = 0  # bytes of the (decompressed) stream delivered
    lineno: int = 0
    finished: bool = False  # a rotated file read to its end: never read again


@dataclass
class Registry:
    files: dict[str, FileState] = field(default_factory=dict)
    pipeline: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str) -> Registry:
        try:
            with open(path, "rb") as f:
                data = orjson.loads(f.read())
        except FileNotFoundError:
            return cls()
        if data.get("version") != REGISTRY_VERSION:
            raise ValueError(f"{path}: unsupported registry version {data.get('version')!r}")
        files = {k: FileState(**v) for k, v in data.get("files", {}).items()}
        return cls(files=files, pipeline=data.get("pipeline") or {})

    def save(self, path: str) -> None:
        self.write_snapshot(path, self.snapshot())

    def snapshot(self) -> bytes:
        """The registry as it is now, serialised (a checkpoint taken now, written later)."""
        return orjson.dumps({"version": REGISTRY_VERSION, "files": {k: asdict(v) for k, v in self.files.items()},
                             "pipeline": self.pipeline}, option=orjson.OPT_INDENT_2)

    @staticmethod
    def write_snapshot(path: str, data: bytes) -> None:
        """Atomically replace the registry file: temp file, fsync, rename, fsync the folder."""
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".registry-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise


def head_fingerprint(path: str) -> tuple[str, int]:
    """(sha256 hex of the first bytes, how many bytes) of the decompressed content."""
    with open_log(path) as f:
        head = f.read(FINGERPRINT_BYTES)
    return hashlib.sha256(head).hexdigest(), len(head)


def identify(path: str, registry: Registry) -> tuple[str, FileState]:
    """Find the registry entry for `path` (by content fingerprint), or make a new one.

    A short file (head shorter than FINGERPRINT_BYTES) is matched by device+inode and a prefix
    check, since its fingerprint still changes as it grows.
    """
    st = os.stat(path)
    fingerprint, fp_len = head_fingerprint(path)
    if fp_len >= FINGERPRINT_BYTES:
        key = f"fp:{fingerprint}"
        state = registry.files.get(key)
        if state is not None:
            state.path, state.dev, state.ino = path, st.st_dev, st.st_ino
            return key, state
        # was it known while still short? (same inode, same first bytes)
        for old_key, old in list(registry.files.items()):
            if old.fp_len < FINGERPRINT_BYTES and old.dev == st.st_dev and old.ino == st.st_ino \
                    and _prefix_matches(path, old.fp_len, old.fingerprint):
                del registry.files[old_key]
                old.fingerprint, old.fp_len, old.path = fingerprint, fp_len, path
                registry.files[key] = old
                return key, old
        state = FileState(fingerprint, fp_len, path, st.st_dev, st.st_ino)
        registry.files[key] = state
        return key, state
    key = f"ino:{st.st_dev}:{st.st_ino}"
    state = registry.files.get(key)
    if state is not None and _prefix_matches(path, min(state.fp_len, fp_len), state.fingerprint
                                              if state.fp_len <= fp_len else "") and state.offset <= st.st_size:
        state.fingerprint, state.fp_len, state.path = fingerprint, fp_len, path
        return key, state
    state = FileState(fingerprint, fp_len, path, st.st_dev, st.st_ino)
    registry.files[key] = state
    return key, state


def _prefix_matches(path: str, length: int, fingerprint: str) -> bool:
    if not fingerprint:
        return False
    with open_log(path) as f:
        head = f.read(length)
    return len(head) == length and hashlib.sha256(head).hexdigest() == fingerprint
