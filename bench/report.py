"""The benchmark's report: the console table, the verdicts against the targets, and the section in RESULTS.md.

Owns presentation only; the numbers come from ``bench.loadgen`` and the CPU accounting from ``bench.webhook``.
With ``--baseline`` (``bench/ab.py``) it also picks which round of several is reported (the median, per number)
and writes the "app vs baseline" line for both benchmarks.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import TypeVar

from bench.loadgen import PhaseResult
from core.settings import PROJECT_ROOT

T = TypeVar("T")
THROUGHPUT_TARGET = 0.7  # real / reference, closed loop
P99_TARGET_MS = 50.0  # real app, open loop at the fixed rate


@dataclass
class Row:
    """One measured phase and what the machine did meanwhile."""

    result: PhaseResult
    window: float  # seconds between the start signal and the end of the schedule
    server_cpu: float  # CPU seconds of the gunicorn master and workers in the window
    storage_cpu: float  # CPU seconds of every PostgreSQL and Redis process on the machine in the window
    machine_busy: float  # fraction of all cores busy in the window (servers, generator, Redis, PostgreSQL, others)

    @property
    def server_ms_per_push(self) -> float:
        """Server CPU per answered push: less sensitive than req/s to other load on a shared machine."""
        rate = self.result.throughput
        return self.server_cpu / self.window / rate * 1000 if rate else float("nan")

    @property
    def goodput(self) -> float:
        """Pushes answered correctly per second: the answers per second, less the share that was wrong or empty."""
        r = self.result
        return r.throughput * r.ok / (r.ok + r.errors) if r.ok + r.errors else 0.0

    @property
    def other_cores(self) -> float:
        """Cores busy with something the table does not name: the kernel's share, and other people's processes."""
        cores = len(os.sched_getaffinity(0))
        named = self.server_cpu + self.storage_cpu + self.result.loadgen_cpu
        return max(0.0, self.machine_busy * cores - named / self.window)

    @property
    def phase(self) -> str:
        return "max throughput" if self.result.spec.mode == "closed" else "fixed rate"

    @property
    def load(self) -> str:
        spec = self.result.spec
        if spec.mode == "closed":
            return f"{spec.connections} conns"
        return f"{spec.rate:g}/s ({spec.connections} conns)"


@dataclass
class Verdicts:
    ref_ms: float  # server CPU per push, closed loop
    real_ms: float
    ratio: float
    ratio_pass: bool
    p99_ms: float
    achieved_rate: float
    p99_pass: bool


def verdicts(ref_row: Row, real_row: Row, real_open: PhaseResult) -> Verdicts:
    ref_closed, real_closed = ref_row.result, real_row.result
    ratio = real_closed.throughput / ref_closed.throughput if ref_closed.throughput else 0.0
    p99 = real_open.percentile(0.99)
    # The latency target only counts if the rate was actually delivered (a server that falls behind is late).
    on_rate = real_open.throughput >= 0.97 * real_open.spec.rate and not real_open.unsent
    return Verdicts(
        ref_ms=ref_row.server_ms_per_push,
        real_ms=real_row.server_ms_per_push,
        ratio=ratio,
        ratio_pass=ratio >= THROUGHPUT_TARGET and real_closed.errors == 0,
        p99_ms=p99,
        achieved_rate=real_open.throughput,
        p99_pass=p99 <= P99_TARGET_MS and on_rate and real_open.errors == 0,
    )


def _cells(row: Row) -> list[str]:
    r = row.result
    return [
        r.spec.target,
        row.phase,
        row.load,
        f"{r.throughput:.1f}",
        f"{r.percentile(0.50):.1f}",
        f"{r.percentile(0.99):.1f}",
        f"{r.errors}",
        f"{r.sent}",
        f"{row.server_cpu / row.window:.2f}",
        f"{row.server_ms_per_push:.2f}",
        f"{row.storage_cpu / row.window:.2f}",
        f"{r.loadgen_cpu / row.window:.2f}",
        f"{row.other_cores:.2f}",
        f"{row.machine_busy * 100:.0f}%",
    ]


HEADERS = [
    "target", "phase", "load", "req/s", "p50 ms", "p99 ms", "errors", "requests",
    "server CPU", "server CPU ms/push", "PG+Redis CPU", "loadgen CPU", "other CPU", "machine busy",
]  # fmt: skip
CPU_LEGEND = (
    "CPU columns are cores used during the measured window: the gunicorn master and workers (and what that costs "
    "per push answered); every PostgreSQL and Redis process on the machine (embedded Redis included); the load "
    "generator; the rest of the busy time (the kernel, and anything else running on the machine)."
)


def console_table(rows: list[Row]) -> str:
    table = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    numeric = set(range(3, len(HEADERS)))
    out = []
    for n, line in enumerate(table):
        out.append(
            "  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(line))
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def markdown_table(rows: list[Row]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join("---" for _ in HEADERS) + "|"]
    out.extend("| " + " | ".join(_cells(row)) + " |" for row in rows)
    return "\n".join(out)


GOODPUT_TARGETS = {"sqlite": 1.0, "postgresql": 0.8}  # app goodput / WeRoBot-with-session goodput, closed loop
CPU_TARGET = 2.0  # app server CPU per push / the Flask + wechatpy echo's, closed loop
MEMORY_TARGET_MB = 200  # the app's gunicorn master plus its workers, after the run


def peer_lines(
    ref_row: Row, peers: list[Row], app_row: Row, memory_mb: dict[str, tuple[float, float]], dialect: str
) -> list[str]:
    """The app against the WeRoBot references and the echo: goodput and CPU ratios, the targets of issue 17.

    ``peers``: the closed-loop rows of the WeRoBot echo and of WeRoBot with its session, in that order (either may be
    missing when the run skipped them); ``memory_mb``: each server's master-plus-workers (RSS, PSS) after its phases."""
    app = app_row.result.spec.target
    lines = []
    for row in [ref_row, *peers]:
        name = row.result.spec.target
        lines.append(
            f"{app} / {name}: goodput {row.goodput:.1f} push/s ({row.result.errors} failed of {row.result.sent}), "
            f"app {app_row.goodput / row.goodput if row.goodput else float('nan'):.2f}x; server CPU per push "
            f"{row.server_ms_per_push:.2f} ms, app {app_row.server_ms_per_push / row.server_ms_per_push:.2f}x"
        )
    session = next((row for row in peers if row.result.spec.target.endswith("session")), None)
    if session is not None:
        target = GOODPUT_TARGETS.get(dialect, 1.0)
        ratio = app_row.goodput / session.goodput if session.goodput else float("inf")
        lines.append(
            f"Goodput {app} / {session.result.spec.target} (pushes answered correctly per second, max throughput): "
            f"{ratio:.2f}x (target >= {target:.1f}x on {dialect}): " + ("PASS" if ratio >= target else "FAIL")
        )
    cpu = app_row.server_ms_per_push / ref_row.server_ms_per_push
    lines.append(
        f"Server CPU per push {app} / {ref_row.result.spec.target}: {cpu:.2f}x "
        f"({app_row.server_ms_per_push:.2f} vs {ref_row.server_ms_per_push:.2f} ms; target <= {CPU_TARGET:.1f}x): "
        + ("PASS" if cpu <= CPU_TARGET else "FAIL")
    )
    if memory_mb:
        lines.append(
            f"Memory after the run, gunicorn master plus workers, RSS / PSS (target for the app <= {MEMORY_TARGET_MB} "
            "MB; with --preload the workers share the master's pages, which RSS counts in each process and PSS "
            "once): " + ", ".join(f"{name} {rss:.0f} / {pss:.0f} MB" for name, (rss, pss) in memory_mb.items())
        )
    return lines


def verdict_lines(v: Verdicts, rate: float) -> list[str]:
    return [
        f"Throughput xiaoyou / reference: {v.ratio:.2f}x (target >= {THROUGHPUT_TARGET:.1f}x): "
        + ("PASS" if v.ratio_pass else "FAIL"),
        f"Server CPU per push (max throughput): xiaoyou {v.real_ms:.2f} ms, reference {v.ref_ms:.2f} ms "
        f"(CPU-efficiency ratio {v.ref_ms / v.real_ms:.2f}x; less sensitive to other load than req/s)",
        f"xiaoyou p99 at {rate:g} pushes/s: {v.p99_ms:.1f} ms at {v.achieved_rate:.1f} req/s achieved "
        f"(target <= {P99_TARGET_MS:.0f} ms): " + ("PASS" if v.p99_pass else "FAIL"),
    ]


def median(items: Sequence[T], key: Callable[[T], float]) -> T:
    """The item whose ``key`` is the median: for an even count the lower middle one, so always a measured round."""
    return sorted(items, key=key)[(len(items) - 1) // 2]


@dataclass(frozen=True)
class Sample:
    """One round of the app or of the baseline, as the A/B compares them."""

    round: int
    throughput: float  # closed loop, answers per second
    cpu_ms: float  # server CPU per answer, closed loop
    p99_ms: float  # open loop, at the fixed rate
    failures: int  # failed requests of that round, all phases


def ab_lines(label: str, rate: float, app: list[Sample], baseline: list[Sample], caveat: str = "") -> list[str]:
    """The "app vs baseline" line: each number's median over the rounds (and its round); then every round's."""
    several = len(app) > 1

    def compare(attr: str, unit: str, digits: int) -> str:
        a, b = (median(samples, key=attrgetter(attr)) for samples in (app, baseline))
        x, y = getattr(a, attr), getattr(b, attr)
        where = f", rounds {a.round} and {b.round}" if several else ""
        return f"{x / y if y else float('nan'):.2f} ({x:.{digits}f} vs {y:.{digits}f} {unit}{where})"

    line = (
        f"app vs baseline ({label}), app / baseline: throughput {compare('throughput', 'req/s', 1)}, CPU per "
        f"request {compare('cpu_ms', 'ms', 2)}, p99 at {rate:g}/s {compare('p99_ms', 'ms', 1)}"
    )
    lines = [f"{line}; medians of {len(app)} rounds" if several else line]
    if several:
        each = "; ".join(
            f"{who} round {s.round}: {s.throughput:.1f} req/s, {s.cpu_ms:.2f} ms, {s.p99_ms:.1f} ms"
            + (f", **{s.failures} FAILED**" if s.failures else "")
            for who, samples in (("app", app), ("baseline", baseline))
            for s in samples
        )
        lines.append(f"every round (throughput, CPU per request, p99): {each}")
    return [*lines, *([f"caveat: {caveat}"] if caveat else [])]


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    return f"{cores} cores (nproc), {model}; Python {platform.python_version()}; Linux {platform.release()}"


def revision() -> str:
    """The app's commit, and whether the tree had changes outside ``bench/`` (those are measured too)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", ".", ":!bench"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes in {len(changed)} files" if changed else head


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def markdown_section(
    *,
    when: str,
    command: str,
    backend: str,
    settings_line: str,
    rows: list[Row],
    lines: list[str],
    notes: list[str],
    app_revision: str,
    load_before: str,
) -> str:
    parts = [
        f"### Run {when}: {backend}",
        "",
        f"- Command: `{command}`",
        f"- App revision: {app_revision}",
        f"- Machine: {machine()}; load average (1/5/15 min) before the run: {load_before}",
        f"- Backend: {backend}",
        f"- Setup: {settings_line}",
        "",
        markdown_table(rows),
        "",
        CPU_LEGEND,
        "",
        *(f"- {line}" for line in lines),
        *(f"- Note: {note}" for note in notes),
        "",
    ]
    return "\n".join(parts)


WEBHOOK_INTRO = """## Webhook (`make bench-webhook`)

The real app under gunicorn against a bare Flask + wechatpy echo webhook (`bench/reference.py`) and, since issue 17,
WeRoBot's echo and WeRoBot with its default SQLite session (`bench/werobot_reference.py`), all in safe (AES) mode,
on loopback. Each run adds a section at the end of this block; other benchmarks keep their own blocks.
"""


def write_block(path: Path, name: str, section: str, *, intro: str = "", replace: bool = False) -> None:
    """Put ``section`` in the block ``<!-- bench-NAME:start -->`` … ``end`` of ``path``: after the block's earlier
    runs, or instead of them with ``replace``. Every other block is kept as it is; a missing file or block is
    created, a new block starting with ``intro``."""
    start, end = f"<!-- bench-{name}:start -->", f"<!-- bench-{name}:end -->"
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in current and end in current:
        head, _, rest = current.partition(start)
        body, _, tail = rest.partition(end)
        kept = "" if replace else f"{body.rstrip()}\n\n"
        current = f"{head}{start}\n{kept.lstrip()}{section.rstrip()}\n{end}{tail}"
    else:
        opening = f"{intro.rstrip()}\n\n" if intro else ""
        current = f"{current.rstrip()}\n\n{start}\n{opening}{section.rstrip()}\n{end}\n"
    path.write_text(current, encoding="utf-8")
