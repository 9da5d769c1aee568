"""Benchmark results: the comparison table, JSON, and the Markdown record."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.workload import KEY_LABELS

# The goals the project set itself, for 1,000 certificates from the local CA.
TARGET_COUNT = 1000
WALL_TARGETS = {"ec": 10.0, "rsa": 20.0}
LIST_TARGET = 1.0


@dataclass
class WorkloadResult:
    """What one daemon did with one workload (N certificates of one key type)."""

    daemon: str
    key: str
    count: int
    error: str = ""
    completed: int = 0
    wall_seconds: float | None = None
    submit_seconds: float | None = None
    drain_seconds: float | None = None
    request_median_seconds: float | None = None
    list_seconds: float | None = None
    list_runs: list[float] = field(default_factory=list)
    list_entries: int | None = None
    certificates_saved: int | None = None
    rss_kib: int | None = None
    hwm_kib: int | None = None
    cpu_own_seconds: float | None = None
    cpu_children_seconds: float | None = None
    cpu_seconds: float | None = None
    watch: dict[str, int] = field(default_factory=dict)
    # (seconds since the first request, requests MONITORING) at each progress line.
    timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every request reached MONITORING."""
        return not self.error and self.completed == self.count


@dataclass(frozen=True)
class Metric:
    """One row of the table: how to read it from a result and how to compare it."""

    label: str
    attr: str
    unit: str
    # "time" (elapsed), "cpu" (CPU time) or "size" (memory): lower is better for all
    # three, and the ratio is stock/ours; "info": shown without a ratio.
    kind: str


METRICS = (
    Metric("all requests MONITORING", "wall_seconds", "s", "time"),
    Metric("getcert list (median)", "list_seconds", "s", "time"),
    Metric("daemon CPU incl. children", "cpu_seconds", "s", "cpu"),
    Metric("daemon CPU: children only", "cpu_children_seconds", "s", "info"),
    Metric("getcert request phase", "submit_seconds", "s", "time"),
    Metric("then until all MONITORING", "drain_seconds", "s", "time"),
    Metric("VmRSS at end", "rss_kib", "MiB", "size"),
    Metric("VmHWM (peak RSS)", "hwm_kib", "MiB", "size"),
)


def ratio(stock: float | None, ours: float | None) -> float | None:
    """stock / ours, or None when either is missing or ours is zero."""
    if stock is None or ours is None or ours <= 0:
        return None
    return stock / ours


def _value(result: WorkloadResult | None, metric: Metric) -> float | None:
    if result is None:
        return None
    value = getattr(result, metric.attr)
    if value is None:
        return None
    return value / 1024 if metric.unit == "MiB" else float(value)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _fmt_ratio(r: float | None, kind: str) -> str:
    if r is None or kind == "info":
        return ""
    if kind == "time":
        return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.1f}x slower"
    if kind == "cpu":
        return f"{r:.1f}x less" if r >= 1 else f"{1 / r:.1f}x more"
    return f"{1 / r:.1f}x larger" if r < 1 else f"{r:.1f}x smaller"


def target_for(key: str, metric: Metric) -> float | None:
    """The project's stock/ours goal for this metric, if it has one."""
    if metric.attr == "wall_seconds":
        return WALL_TARGETS.get(key)
    if metric.attr == "list_seconds":
        return LIST_TARGET
    return None


def comparison(key: str, stock: WorkloadResult | None,
               ours: WorkloadResult | None) -> dict[str, Any]:
    """The stock/ours ratios of one workload and whether each goal is met."""
    out: dict[str, Any] = {"key": key}
    for metric in METRICS:
        if metric.kind == "info":
            continue
        r = ratio(_value(stock, metric), _value(ours, metric))
        out[f"{metric.attr}_ratio"] = r
        target = target_for(key, metric)
        if target is not None:
            both_ok = bool(stock and ours and stock.ok and ours.ok)
            out[f"{metric.attr}_target"] = target
            out[f"{metric.attr}_target_met"] = (r >= target) if (r is not None and both_ok) \
                else None
    either = stock or ours
    out["targets_apply"] = either is not None and either.count == TARGET_COUNT
    return out


def _rows(key: str, stock: WorkloadResult | None,
          ours: WorkloadResult | None) -> list[list[str]]:
    rows = []
    for metric in METRICS:
        s, o = _value(stock, metric), _value(ours, metric)
        target = target_for(key, metric)
        goal = ""
        if target is not None:
            goal = f">= {target:g}x"
            r = ratio(s, o)
            if r is not None and stock and ours and stock.ok and ours.ok \
                    and stock.count == TARGET_COUNT:
                goal += ": met" if r >= target else ": NOT met"
        rows.append([f"{metric.label} ({metric.unit})", _fmt(s, metric.unit),
                     _fmt(o, metric.unit), _fmt_ratio(ratio(s, o), metric.kind), goal])
    return rows


def _status(result: WorkloadResult | None) -> str:
    if result is None:
        return "not run"
    if result.ok:
        return "ok"
    return f"INCOMPLETE ({result.completed}/{result.count}): {result.error}"


_HEADER = ["metric", "stock", "ours", "ours vs stock", "target (stock/ours)"]


def text_table(results: list[WorkloadResult]) -> str:
    """A plain-text table of both daemons' figures and their ratios, per workload."""
    blocks = []
    for key, count, stock, ours in _pairs(results):
        rows = [_HEADER] + _rows(key, stock, ours)
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
        lines = [f"== {KEY_LABELS[key]} x {count} =="]
        for row in rows:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                   for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        lines.append(f"stock: {_status(stock)}; ours: {_status(ours)}")
        if count != TARGET_COUNT:
            lines.append(f"(the targets are stated for {TARGET_COUNT} certificates)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def markdown_table(results: list[WorkloadResult]) -> str:
    """The same figures as one Markdown table per workload."""
    blocks = []
    for key, count, stock, ours in _pairs(results):
        title = (f"**{KEY_LABELS[key]} x {count}** (stock: {_status(stock)}; "
                 f"ours: {_status(ours)})")
        lines = [title, "",
                 "| " + " | ".join(_HEADER) + " |",
                 "|" + "---|" * len(_HEADER)]
        for row in _rows(key, stock, ours):
            lines.append("| " + " | ".join(row) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _pairs(results: list[WorkloadResult]
           ) -> list[tuple[str, int, WorkloadResult | None, WorkloadResult | None]]:
    seen: dict[tuple[str, int], dict[str, WorkloadResult]] = {}
    for r in results:
        seen.setdefault((r.key, r.count), {})[r.daemon] = r
    return [(key, count, d.get("stock"), d.get("ours")) for (key, count), d in seen.items()]


def to_json(results: list[WorkloadResult], meta: dict[str, Any]) -> dict[str, Any]:
    """Everything measured, with the run's settings and machine facts, as plain data."""
    return {
        **meta,
        "results": [asdict(r) | {"ok": r.ok} for r in results],
        "comparisons": [comparison(key, s, o) for key, _, s, o in _pairs(results)],
    }


def write_json(path: Path, results: list[WorkloadResult], meta: dict[str, Any]) -> None:
    """Writes to_json(...) to `path`."""
    path.write_text(json.dumps(to_json(results, meta), indent=2) + "\n")


def record_markdown(path: Path, results: list[WorkloadResult], meta: dict[str, Any]) -> None:
    """Appends a dated section with the machine facts, the command and the tables to `path`."""
    machine = meta.get("machine", {})
    facts = ", ".join(f"{k} {v}" for k, v in machine.items() if v not in (None, ""))
    section = (f"\n### Run of {meta['date']}\n\n"
               f"Machine: {facts}.\n\n"
               f"Command: `{meta['command']}`\n\n"
               f"{markdown_table(results)}\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(section)
