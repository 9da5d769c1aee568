"""Memory and CPU figures of a running process, read from /proc (see proc(5))."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Memory:
    """Resident set size now (VmRSS) and its peak so far (VmHWM), in KiB."""

    rss_kib: int
    hwm_kib: int


@dataclass(frozen=True)
class CpuTimes:
    """CPU seconds of a process and of its children that it has waited for.

    The kernel adds a child's times to the parent's ``cutime``/``cstime`` only once the
    parent has reaped it, which a daemon does for every helper it forks (the stock
    certmonger forks one for key generation, CSR building, each CA helper, and so on).
    """

    utime: float
    stime: float
    cutime: float
    cstime: float

    @property
    def own(self) -> float:
        """User plus system time of the process itself."""
        return self.utime + self.stime

    @property
    def children(self) -> float:
        """User plus system time of its reaped children."""
        return self.cutime + self.cstime

    @property
    def total(self) -> float:
        """Own time plus children's time."""
        return self.own + self.children

    def __sub__(self, other: CpuTimes) -> CpuTimes:
        return CpuTimes(self.utime - other.utime, self.stime - other.stime,
                        self.cutime - other.cutime, self.cstime - other.cstime)


def parse_status(text: str) -> Memory:
    """Reads VmRSS and VmHWM from the text of /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            # The kernel always reports these in kB ("VmRSS:	 9196 kB").
            values[key] = int(rest.split()[0])
    if set(values) != {"VmRSS", "VmHWM"}:
        raise ValueError("no VmRSS/VmHWM lines (is the process a zombie?)")
    return Memory(rss_kib=values["VmRSS"], hwm_kib=values["VmHWM"])


def parse_stat(text: str, ticks_per_second: int) -> CpuTimes:
    """Reads utime, stime, cutime and cstime from the text of /proc/<pid>/stat."""
    # The command name (field 2) is in parentheses and may itself hold spaces or
    # parentheses, so split after its last closing parenthesis.  What follows starts
    # at field 3 (state); utime..cstime are fields 14..17.
    fields = text[text.rindex(")") + 2:].split()
    utime, stime, cutime, cstime = (int(v) / ticks_per_second for v in fields[11:15])
    return CpuTimes(utime, stime, cutime, cstime)


def read_memory(pid: int) -> Memory:
    """The current and peak resident set size of process `pid`."""
    with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
        return parse_status(f.read())


def read_cpu(pid: int) -> CpuTimes:
    """The CPU times of process `pid` and of its reaped children."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        return parse_stat(f.read(), os.sysconf("SC_CLK_TCK"))
