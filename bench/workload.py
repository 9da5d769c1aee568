"""The workload: N ``getcert request`` calls to the local CA, and timed ``getcert list`` runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# getcert's -G/-g values for each workload name.
KEY_TYPES: dict[str, tuple[str, str]] = {"ec": ("EC", "256"), "rsa": ("RSA", "2048")}
KEY_LABELS: dict[str, str] = {"ec": "EC P-256", "rsa": "RSA-2048"}


def request_argv(getcert: str, index: int, key: str, outdir: Path) -> list[str]:
    """The ``getcert request`` command line for the `index`-th certificate (no -w)."""
    key_type, key_size = KEY_TYPES[key]
    return [getcert, "request", "-c", "local", "-I", f"bench{index}",
            "-f", str(outdir / f"{index}.crt"), "-k", str(outdir / f"{index}.key"),
            "-N", f"CN=bench{index}.example.test", "-G", key_type, "-g", key_size]


@dataclass(frozen=True)
class Submission:
    """How the ``getcert request`` calls went."""

    seconds: float
    finished_at: float
    latencies: list[float]
    failures: list[str]

    @property
    def median_latency(self) -> float:
        """Median wall time of one ``getcert request`` call, in seconds."""
        return statistics.median(self.latencies) if self.latencies else 0.0


def submit_all(getcert: str, count: int, key: str, outdir: Path, env: dict[str, str],
               workers: int, *, stop_after_failures: int = 5) -> Submission:
    """Runs `count` ``getcert request`` calls from a pool of `workers` threads.

    Stops early once `stop_after_failures` calls have failed, so a broken daemon does
    not cost N timeouts.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    latencies: list[float] = []
    failures: list[str] = []

    def one(index: int) -> None:
        if len(failures) >= stop_after_failures:
            return
        started = time.monotonic()
        try:
            done = subprocess.run(request_argv(getcert, index, key, outdir), env=env,
                                  capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired:
            failures.append(f"bench{index}: getcert request timed out")
            return
        latencies.append(time.monotonic() - started)
        if done.returncode != 0:
            failures.append(f"bench{index}: rc {done.returncode}: "
                            f"{(done.stderr or done.stdout).strip()[:300]}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(count)))
    finished = time.monotonic()
    return Submission(finished - started, finished, latencies, failures)


def certificates_saved(outdir: Path, count: int) -> int:
    """How many of the workload's certificate files hold a PEM certificate."""
    saved = 0
    for index in range(count):
        try:
            text = (outdir / f"{index}.crt").read_text(errors="replace")
        except OSError:
            continue
        saved += "-----BEGIN CERTIFICATE-----" in text
    return saved


@dataclass(frozen=True)
class ListTiming:
    """Wall times of repeated ``getcert list`` runs and what the last one printed."""

    seconds: list[float]
    requests_listed: int
    monitoring_listed: int
    returncode: int

    @property
    def median(self) -> float:
        """The median run time, in seconds."""
        return statistics.median(self.seconds)


def time_list(getcert: str, env: dict[str, str], runs: int) -> ListTiming:
    """Times `runs` runs of ``getcert list``, one after another."""
    seconds: list[float] = []
    out = subprocess.CompletedProcess[str]([], 0, "", "")
    for _ in range(runs):
        started = time.monotonic()
        out = subprocess.run([getcert, "list"], env=env, capture_output=True, text=True,
                             timeout=600, check=False)
        seconds.append(time.monotonic() - started)
    # Counting the listing's entries shows the daemon really answered for every request.
    return ListTiming(seconds=seconds,
                      requests_listed=out.stdout.count("Request ID '"),
                      monitoring_listed=out.stdout.count("\tstatus: MONITORING\n"),
                      returncode=out.returncode)
