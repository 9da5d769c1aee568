#!/usr/bin/env python3
"""The stock certmonger and pycertmonger side by side, both driven by the stock getcert.

For each key type, each daemon gets a fresh private system-like bus and fresh state
directories, and then:

1. N ``getcert request -c local ... -G EC -g 256`` (or RSA 2048) calls, without -w,
   from a pool of worker threads; the clock starts just before the first call and stops
   when the last request is first seen in MONITORING (see bench/tracker.py);
2. ``getcert list`` with the N requests tracked, timed a few times (median reported);
3. the daemon's VmRSS and VmHWM, and its CPU time (with its reaped children) spent
   between the first request and the last MONITORING.

Run it with the project's Python, from the repository root:

    python bench/run.py --count 50 --key ec --only stock
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for `bench` and `tests`.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import asyncio
import contextlib
import functools
import shlex
import shutil
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

from bench import daemons, procstat, report, workload
from bench.machine import machine_facts
from bench.tracker import CompletionTracker, WatchAborted

REPO = Path(__file__).resolve().parents[1]
DEFAULT_RECORD = REPO / "docs" / "benchmarks.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Time N certificates from the local CA with the stock certmonger "
                    "and with pycertmonger, both driven by the stock getcert.")
    p.add_argument("--count", "-n", type=int, default=1000,
                   help="certificates per workload (default: %(default)s)")
    p.add_argument("--key", choices=("ec", "rsa", "both"), default="both",
                   help="EC P-256, RSA-2048, or both workloads (default: %(default)s)")
    p.add_argument("--only", choices=("stock", "ours"),
                   help="run one daemon only (default: both)")
    p.add_argument("--workers", type=int, default=4,
                   help="concurrent getcert request calls (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=5400,
                   help="seconds to wait for one workload to finish (default: %(default)s)")
    p.add_argument("--list-runs", type=int, default=3,
                   help="getcert list runs to time; the median is reported "
                        "(default: %(default)s)")
    p.add_argument("--poll-interval", type=float, default=0.5,
                   help="seconds between polls while the daemon sends no status "
                        "signals (default: %(default)s)")
    p.add_argument("--quiet-interval", type=float, default=2.0,
                   help="poll all unfinished requests after this many seconds "
                        "without a status signal (default: %(default)s)")
    p.add_argument("--progress-interval", type=float, default=10.0,
                   help="seconds between progress lines (default: %(default)s)")
    p.add_argument("--python", default=sys.executable,
                   help="the interpreter that runs pycertmonger.daemon "
                        "(default: this one)")
    p.add_argument("--getcert", default=daemons.STOCK_GETCERT,
                   help="the getcert client for both daemons (default: %(default)s)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    p.add_argument("--record", nargs="?", type=Path, const=DEFAULT_RECORD, metavar="FILE",
                   help="append a dated Markdown table (default file: docs/benchmarks.md)")
    p.add_argument("--workdir", type=Path,
                   help="where to put buses, state and certificates (default: a new "
                        "temporary directory)")
    p.add_argument("--keep", action="store_true",
                   help="keep the work directory (daemon logs, request files)")
    args = p.parse_args(argv)
    if args.count < 1 or args.workers < 1 or args.list_runs < 1:
        p.error("--count, --workers and --list-runs must be at least 1")
    return args


def say(text: str) -> None:
    """Prints a progress line at once."""
    print(text, flush=True)


async def _report_progress(tag: str, tracker: CompletionTracker, started: float,
                           interval: float, timeline: list[tuple[float, int]]) -> None:
    while True:
        await asyncio.sleep(interval)
        timeline.append((round(time.monotonic() - started, 1), tracker.monitoring))
        counts = sorted(tracker.state_counts().items(), key=lambda kv: -kv[1])
        busiest = ", ".join(f"{state} {n}" for state, n in counts[:3])
        say(f"  [{tag}] {time.monotonic() - started:7.1f} s: "
            f"{tracker.monitoring}/{tracker.expected} MONITORING, "
            f"{len(tracker.requests)} known to the daemon ({busiest})")


async def _drive(daemon: daemons.DaemonUnderTest, key: str, args: argparse.Namespace,
                 result: report.WorkloadResult) -> None:
    """Submits the workload to a running daemon and measures it."""
    tag = f"{daemon.spec.name} {key}"
    loop = asyncio.get_running_loop()
    tracker = CompletionTracker(daemon.bus_address, args.count,
                                poll_interval=args.poll_interval,
                                quiet_interval=args.quiet_interval)
    # Subscribe before the first request exists, so that no status signal is missed.
    await tracker.connect()
    try:
        cpu_before = procstat.read_cpu(daemon.pid)
        started = time.monotonic()
        submit = loop.run_in_executor(None, functools.partial(
            workload.submit_all, args.getcert, args.count, key, daemon.root / "certs",
            daemon.client_env(), args.workers))
        watch = asyncio.ensure_future(tracker.run())
        progress = asyncio.ensure_future(
            _report_progress(tag, tracker, started, args.progress_interval, result.timeline))
        try:
            await _await_completion(watch, submit, started + args.timeout, result)
        finally:
            for task in (progress, watch):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finished = None
        if result.error == "" and watch.done() and not watch.cancelled():
            finished = watch.result()
            result.wall_seconds = finished - started
        result.completed = tracker.monitoring
        cpu = procstat.read_cpu(daemon.pid) - cpu_before
        result.cpu_own_seconds, result.cpu_children_seconds = cpu.own, cpu.children
        result.cpu_seconds = cpu.total
        submission = await submit
        result.submit_seconds = submission.seconds
        result.request_median_seconds = submission.median_latency
        if finished is not None:
            # The last request can reach MONITORING before its getcert has exited.
            result.drain_seconds = max(0.0, finished - submission.finished_at)
        if submission.failures and not result.error:
            result.error = "getcert request failed: " + "; ".join(submission.failures[:3])
        result.watch = {**vars(tracker.stats)}
    finally:
        await tracker.close()
    say(f"  [{tag}] "
        + (f"all {args.count} MONITORING after {result.wall_seconds:.2f} s"
           if result.wall_seconds is not None else f"stopped: {result.error}")
        + f"; timing getcert list x{args.list_runs}")
    listing = await loop.run_in_executor(None, workload.time_list, args.getcert,
                                         daemon.client_env(), args.list_runs)
    result.list_runs = listing.seconds
    result.list_seconds = listing.median
    result.list_entries = listing.requests_listed
    listed_all = listing.requests_listed == len(tracker.requests)
    if (listing.returncode != 0 or not listed_all) and not result.error:
        result.error = (f"getcert list (rc {listing.returncode}) listed "
                        f"{listing.requests_listed} of {len(tracker.requests)} requests")
    # A request in MONITORING must have its certificate in place: check it on disk.
    result.certificates_saved = workload.certificates_saved(daemon.root / "certs", args.count)
    if result.certificates_saved != result.completed and not result.error:
        result.error = (f"{result.certificates_saved} certificate files for "
                        f"{result.completed} requests in MONITORING")
    memory = procstat.read_memory(daemon.pid)
    result.rss_kib, result.hwm_kib = memory.rss_kib, memory.hwm_kib


async def _await_completion(watch: asyncio.Future[float], submit: asyncio.Future[Any],
                            deadline: float, result: report.WorkloadResult) -> None:
    """Waits for the watch to finish; records why in `result` when it does not."""
    pending: set[asyncio.Future[Any]] = {watch, submit}
    while watch in pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result.error = "timed out"
            return
        done, pending = await asyncio.wait(pending, timeout=remaining,
                                           return_when=asyncio.FIRST_COMPLETED)
        if submit in done and submit.result().failures:
            result.error = "getcert request failed: " + "; ".join(submit.result().failures[:3])
            return
    try:
        watch.result()
    except WatchAborted as e:
        result.error = str(e)


def run_workload(spec: daemons.DaemonSpec, key: str, args: argparse.Namespace,
                 root: Path) -> report.WorkloadResult:
    """Runs one workload against one freshly started daemon."""
    result = report.WorkloadResult(daemon=spec.name, key=key, count=args.count)
    say(f"[{spec.name} {key}] starting {' '.join(spec.command[-4:])}; "
        f"{args.count} x {workload.KEY_LABELS[key]}, {args.workers} workers")
    try:
        with daemons.DaemonUnderTest(spec, root / f"{spec.name}-{key}") as daemon:
            asyncio.run(_drive(daemon, key, args, result))
    except Exception as e:  # noqa: BLE001 - a failed run is a result too; go on with the rest
        result.error = result.error or f"{type(e).__name__}: {e}"
        say(f"  [{spec.name} {key}] failed: {result.error}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark; returns 0 when every workload completed."""
    args = parse_args(argv)
    keys = ["ec", "rsa"] if args.key == "both" else [args.key]
    specs = [daemons.stock(), daemons.ours(args.python)]
    if args.only:
        specs = [s for s in specs if s.name == args.only]
    root = args.workdir or Path(tempfile.mkdtemp(prefix="pycertmonger-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join(["python", "bench/run.py",
                               *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_facts(args.python if "ours" in [s.name for s in specs] else None),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                     if k not in ("json", "record", "workdir", "keep")},
    }
    results: list[report.WorkloadResult] = []
    try:
        for key in keys:
            for spec in specs:
                results.append(run_workload(spec, key, args, root))
    finally:
        if args.keep:
            say(f"work directory kept: {root}")
        elif args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(report.text_table(results))
    if args.json:
        report.write_json(args.json, results, meta)
        say(f"JSON written to {args.json}")
    if args.record:
        report.record_markdown(args.record, results, meta)
        say(f"Markdown table appended to {args.record}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
