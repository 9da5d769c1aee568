"""A directory of record files (certmonger's requests or CAs directory).

Each record is one file named after its creation time, `YYYYMMDDHHMMSS`, with `-1`,
`-2`, ... added on a collision, as certmonger names them; a file keeps its name for
life.  Writes are atomic and durable: the text goes to `<name>.tmp` (mode 0600), is
fsynced, renamed over the record, and the directory is fsynced, so a crash leaves the old
record or the new one, never a torn file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from ..model import CA, Request
from . import record

log = logging.getLogger(__name__)

T = TypeVar("T", Request, CA)


class RecordDirectory:
    """Loads, saves and deletes the records of one directory."""

    def __init__(self, path: str | os.PathLike[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._clock = clock
        self._taken: set[str] = set()
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._written: dict[str, bytes] = {}
        self._generation: dict[str, int] = {}
        self._committed: dict[str, int] = {}

    def ensure(self) -> None:
        """Create the directory (0755, like certmonger's) if it is missing."""
        self.path.mkdir(mode=0o755, parents=True, exist_ok=True)

    def names(self) -> list[str]:
        """Record file names, in certmonger's load order (by name)."""
        try:
            entries = os.listdir(self.path)
        except FileNotFoundError:
            return []
        return sorted(n for n in entries
                      if not n.startswith(".") and not n.endswith(".tmp")
                      and (self.path / n).is_file())

    def load_all(self, cls: type[T]) -> list[T]:
        """Every readable record, in name order; unreadable files are logged and skipped."""
        out: list[T] = []
        for name in self.names():
            try:
                text = (self.path / name).read_text(encoding="utf-8", errors="surrogateescape")
            except OSError as exc:
                log.warning("Cannot read %s: %s", self.path / name, exc)
                continue
            obj = record.loads(cls, text)
            if not obj.nickname:
                log.warning("Skipping %s: it has no id", self.path / name)
                continue
            obj.store_name = name
            self._taken.add(name)
            self._written[name] = text.encode("utf-8", errors="surrogateescape")
            out.append(obj)
        return out

    def new_name(self) -> str:
        """A fresh file name from the current time, unique in this directory."""
        base = time.strftime("%Y%m%d%H%M%S", time.localtime(self._clock()))
        name, n = base, 0
        while name in self._taken or (self.path / name).exists():
            n += 1
            name = f"{base}-{n}"
        self._taken.add(name)
        return name

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(name)
            if lock is None:
                lock = self._locks[name] = threading.Lock()
            return lock

    def prepare(self, obj: Request | CA) -> tuple[str, bytes, int]:
        """Snapshot a record for writing: (file name, text, generation).

        Call it where the record is changed (the event loop), then `commit` the snapshot
        from any thread: snapshots are written in generation order and an older one never
        overwrites a newer one.
        """
        with self._guard:
            if not obj.store_name:
                obj.store_name = self.new_name()
            name = obj.store_name
            gen = self._generation.get(name, 0) + 1
            self._generation[name] = gen
        return name, record.dumps(obj).encode("utf-8", errors="surrogateescape"), gen

    def commit(self, name: str, data: bytes, generation: int) -> None:
        """Write a prepared snapshot atomically, unless a newer one was written already
        or the file already holds exactly this text."""
        with self._lock(name):
            if self._committed.get(name, 0) >= generation:
                return
            self._committed[name] = generation
            if self._written.get(name) == data and (self.path / name).exists():
                return
            write_atomic(self.path / name, data)
            self._written[name] = data

    def save(self, obj: Request | CA) -> None:
        """Write a record atomically now, giving it a file name if it has none."""
        self.commit(*self.prepare(obj))

    def delete(self, obj: Request | CA) -> None:
        """Remove a record's file (missing is fine)."""
        if not obj.store_name:
            return
        with self._lock(obj.store_name):
            try:
                os.unlink(self.path / obj.store_name)
            except FileNotFoundError:
                pass
            fsync_dir(self.path)
            self._written.pop(obj.store_name, None)
        self._taken.discard(obj.store_name)


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace `path` with `data`: temp file (created with `mode`), fsync, rename, fsync dir."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)
