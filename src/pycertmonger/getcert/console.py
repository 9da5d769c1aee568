"""Where getcert's words go, and how a subcommand stops early.

The stock client writes nearly everything, errors and usage included, to stdout (only
an unknown subcommand is reported on stderr), and scripts depend on that; `Console`
keeps the two streams apart so that tests can look at each.
"""

from __future__ import annotations

import sys
from typing import TextIO


class Console:
    """The two output streams of one getcert run."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out if out is not None else sys.stdout
        self._err = err if err is not None else sys.stderr

    def say(self, line: str) -> None:
        """Print one line to stdout."""
        self._out.write(line + "\n")

    def write(self, text: str) -> None:
        """Print text to stdout as it is."""
        self._out.write(text)

    def complain(self, line: str) -> None:
        """Print one line to stderr."""
        self._err.write(line + "\n")

    def flush(self) -> None:
        """Flush both streams."""
        self._out.flush()
        self._err.flush()


class Stop(Exception):
    """Leave the subcommand with `code`, after printing its usage if `usage` is set."""

    def __init__(self, code: int = 1, usage: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.usage = usage
