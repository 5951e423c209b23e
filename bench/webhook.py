"""``python -m bench.webhook`` (``make bench-webhook``): the real webhook's throughput and latency against a reference.

Owns the run: prepare the storage, serve the bare reference (``bench/reference.py``) and then the real app
(``wsgi:app``) with the same gunicorn settings as ``cli/runner.py``, drive each with the load generator
(``bench/loadgen.py``: a warm-up, a closed-loop maximum-throughput phase, an open-loop fixed-rate phase), print the
table and the verdicts, and append them to ``bench/RESULTS.md``. Between the two, the WeRoBot peers
(``bench/werobot_reference.py``: its echo, and WeRoBot with its default SQLite session) get the warm-up and the
closed-loop phase, with the same settings; their failed answers lower their goodput and are reported, but only
the app's failures fail the run. Each server's RSS and PSS (master plus workers) are read after its phases. Only one
server runs at a time, so no two ever share the CPUs. With ``--baseline REF`` (``bench/ab.py``) the app as it is
at REF runs too, through the same phases on storage prepared the same way, ``--rounds`` times interleaved with the
app, and is compared with it.

Exit status: 0 when the run is valid, whether or not the targets are met (the benchmark reports, it does not gate);
1 when any request failed (a non-200 answer, a reply that does not decrypt or says the wrong thing); 2 when the run
could not be set up; 130 when interrupted. Everything it started is stopped in every case.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import secrets
import shlex
import string
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bench import ab
from bench.loadgen import OPEN_LOOP_CUTOFF, PUSH_MAX_AGE, Expect, Mode, PhaseResult, PhaseSpec, run_phase
from bench.report import (
    WEBHOOK_INTRO,
    Row,
    Sample,
    ab_lines,
    console_table,
    load_average,
    markdown_section,
    median,
    peer_lines,
    revision,
    verdict_lines,
    verdicts,
    write_block,
)
from bench.servers import (
    Backend,
    BenchError,
    Server,
    count_inbound,
    cpu_between,
    prepare_backend,
    server_env,
    start_server,
    stop_on_sigterm,
    storage_cpu,
    wait_healthy,
)
from core.redis import stop_embedded
from emulator.wire import Account

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
MAX_PHASE_SECONDS = 240  # pushes are signed before a phase starts; the webhook allows 300 s of clock skew


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook",
        description="Benchmark the real webhook (dedupe, database, routing, safe mode) against a bare Flask + "
        "wechatpy echo webhook, both under gunicorn on loopback.",
    )
    parser.add_argument("--duration", type=float, default=20, help="seconds per measured phase (default 20)")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of unmeasured warm-up per server (default 3)")
    parser.add_argument("--rate", type=float, default=300, help="open-loop pushes per second (default 300)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2, as cli run)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (default 8, as cli run)")
    parser.add_argument(
        "--connections", type=int, default=16, help="closed-loop concurrent keep-alive connections (default 16)"
    )
    parser.add_argument(
        "--open-connections", type=int, default=32, help="open-loop connections available to the schedule (default 32)"
    )
    parser.add_argument("--loadgen-processes", type=int, default=2, help="load-generator processes (default 2)")
    parser.add_argument(
        "--pool-rate",
        type=float,
        default=4000,
        help="pushes pre-built per second of the reference's closed-loop phase (default 4000); the real app gets "
        "1.3x the reference's measured rate. Pushes beyond the pool are built live and reported.",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="PostgreSQL URL (env BENCH_DATABASE_URL); the run uses schema xiaoyou_bench in it, dropped and "
        "re-created. Default: a fresh SQLite file.",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", ""),
        help="Redis URL (env BENCH_REDIS_URL); its xy:* keys are deleted first. Default: an embedded Redis.",
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="skip the WeRoBot references (echo, and with its SQLite session)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to append the results section")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to the results file")
    ab.add_arguments(parser)
    args = parser.parse_args(argv)
    ab.check_arguments(parser, args)
    if not 1 <= args.duration <= MAX_PHASE_SECONDS:
        parser.error(f"--duration must be between 1 and {MAX_PHASE_SECONDS} seconds")
    if not 0 <= args.warmup <= MAX_PHASE_SECONDS:
        parser.error(f"--warmup must be between 0 and {MAX_PHASE_SECONDS} seconds")
    if not 1 <= args.loadgen_processes <= 32:
        parser.error("--loadgen-processes must be between 1 and 32")
    for name in ("rate", "pool_rate"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    for name in ("workers", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("connections", "open_connections"):
        if getattr(args, name) < args.loadgen_processes:
            parser.error(f"--{name.replace('_', '-')} must be at least --loadgen-processes")
    return args


def _bench_account() -> Account:
    alphabet = string.ascii_letters + string.digits
    token = "".join(secrets.choice(alphabet) for _ in range(32))
    return Account("wx_bench_account", token, base64.b64encode(secrets.token_bytes(32)).decode()[:43])


def _busy_fraction(before: Any, after: Any) -> float:
    """Share of all CPUs not idle between two ``psutil.cpu_times()`` snapshots."""
    idle = (after.idle - before.idle) + (getattr(after, "iowait", 0) - getattr(before, "iowait", 0))
    total = sum(after) - sum(before)
    return 1 - idle / total if total > 0 else 0.0


@dataclass
class Runner:
    args: argparse.Namespace
    account: Account
    work: Path
    seed_base: int
    phases: int = 0
    problems: list[str] = field(default_factory=list)  # failed requests and failed checks: the run is not clean
    answered: int = 0  # valid replies from the current server, warm-up included
    requests: int = 0  # requests sent to the current server, warm-up included
    mix: tuple[str, ...] = ()  # the push mix of the next phases (``PhaseSpec.mix``); () is the load generator's own
    peer_failures: list[str] = field(default_factory=list)  # failed answers of the WeRoBot references: reported only

    def phase(
        self,
        server: Server,
        expect: Expect,
        mode: Mode,
        duration: float,
        pool_rate: float = 0.0,
        label: str = "",
        fatal: bool = True,
    ) -> Row:
        args = self.args
        spec = PhaseSpec(
            target=server.name,
            expect=expect,
            host="127.0.0.1",
            port=server.port,
            account=self.account,
            mode=mode,
            duration=duration,
            processes=args.loadgen_processes,
            connections=args.connections if mode == "closed" else args.open_connections,
            rate=args.rate if mode == "open" else 0.0,
            pool_rate=pool_rate,
            seed_base=self.seed_base + 64 * self.phases,
            mix=self.mix,
        )
        self.phases += 1
        marks: dict[str, float] = {}
        cpu: list[Any] = []  # psutil.cpu_times() snapshots
        storage: list[dict[int, float]] = []

        def on_start() -> None:
            marks["server_cpu"] = server.cpu_seconds()
            storage.append(storage_cpu())
            cpu.append(psutil.cpu_times())

        def on_end() -> None:
            marks["server_cpu"] = server.cpu_seconds() - marks["server_cpu"]
            storage.append(storage_cpu())
            cpu.append(psutil.cpu_times())

        what = label or ("max throughput" if mode == "closed" else f"{args.rate:g}/s")
        print(f"  {server.name}: {what} for {duration:g}s ...", flush=True)
        result = run_phase(spec, on_start=on_start, on_end=on_end)
        row = Row(
            result,
            window=duration,
            server_cpu=marks["server_cpu"],
            storage_cpu=cpu_between(*storage),
            machine_busy=_busy_fraction(*cpu),
        )
        self.check(result, server, what, fatal)
        self.answered += result.ok
        self.requests += result.sent
        return row

    def check_database(self, backend: Backend, name: str) -> None:
        """Every push the real app answered must have its row in the inbound log: the database was really used.

        A push answered ``success`` (deferred) has its row too, so the log may hold more rows than valid replies,
        never more than requests sent.
        """
        logged = count_inbound(backend.database_url)
        summary = f"{logged} inbound messages logged for {self.answered} valid replies ({self.requests} requests)"
        ok = self.answered <= logged <= self.requests
        print(f"database: {summary}: {'OK' if ok else 'MISMATCH'}")
        if not ok:
            self.problems.append(f"{name} database: {summary}")
            print("!!! the inbound log does not match the pushes answered", file=sys.stderr)

    def check(self, result: PhaseResult, server: Server, phase: str, fatal: bool = True) -> None:
        if result.errors:
            reasons = ", ".join(f"{count} x {reason}" for reason, count in result.failures.most_common())
            problem = f"{result.spec.target} {phase}: {result.errors} of {result.sent} failed ({reasons})"
            if not fatal:  # a reference's failures lower its goodput; they do not make the run invalid
                self.peer_failures.append(problem)
                print(f"  {problem} (a reference: counted against its goodput)")
                return
            self.problems.append(problem)
            print(f"\n!!! {result.spec.target}: {result.errors} of {result.sent} requests FAILED", file=sys.stderr)
            for reason, count in result.failures.most_common():
                print(f"!!!   {count} x {reason}", file=sys.stderr)
            for sample in result.samples:
                print(f"!!!   e.g. {sample}", file=sys.stderr)
            print(f"!!! last lines of the {server.name} server log:\n{server.log_tail()}\n", file=sys.stderr)
        if result.built_live:
            print(f"  warning: {result.built_live} pushes were built during the timed window (pool too small)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    account = _bench_account()
    load_before = load_average()
    app_revision = revision()
    servers: list[Server] = []
    measured: list[tuple[ab.Run, Row, Row]] = []  # each server's closed- and open-loop rows
    peers: list[Row] = []  # the WeRoBot references' closed-loop rows
    memory_mb: dict[str, tuple[float, float]] = {}  # each server's master-plus-workers (RSS, PSS) after its phases
    # The worktree outlives the servers: they are stopped in the finally below, before the stack removes it.
    with tempfile.TemporaryDirectory(prefix="xiaoyou-bench-") as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        runner = Runner(args, account, work, seed_base=secrets.randbelow(2**27))
        try:
            baseline = stack.enter_context(ab.baseline_tree(args.baseline))
            backend = prepare_backend(work, args.database_url, args.redis_url, account)
            print(f"backend: {backend.label}")
            print(f"app revision: {app_revision}; load average before the run: {load_before}")
            if baseline:
                print(f"baseline: {baseline.label}, served from {baseline.tree}; {args.rounds} round(s)")
            print(
                f"gunicorn: {args.workers} workers x {args.threads} threads (gthread); load generator: "
                f"{args.loadgen_processes} processes; {args.duration:g}s per phase after {args.warmup:g}s warm-up"
            )
            pool_rate = args.pool_rate
            for run in ab.plan("bench.reference:create_app()", "xiaoyou", baseline, args.rounds):
                if run.prepare:
                    backend = prepare_backend(work, args.database_url, args.redis_url, account)
                expect: Expect = "echo" if run.role == "reference" else "bot"
                env = server_env(work, backend, account, work / f"prometheus-{run.name}")
                server = start_server(run.name, run.app_spec, work, env, args.workers, args.threads, run.tree)
                servers.append(server)  # stopped in the finally below, even if it never becomes healthy
                wait_healthy(server)
                print(f"{run.name}: gunicorn {run.app_spec} on 127.0.0.1:{server.port}")
                if args.warmup:
                    runner.phase(server, expect, "closed", args.warmup, pool_rate, label="warm-up")
                closed = runner.phase(server, expect, "closed", args.duration, pool_rate)
                opened = runner.phase(server, expect, "open", args.duration)
                measured.append((run, closed, opened))
                memory_mb[run.name] = server.memory_mb()
                server.stop()
                if run.role == "reference":  # every app gets pushes pre-built for 1.3x the reference's rate
                    if not args.no_peers:  # WeRoBot's echo may outrun the reference: pushes for 1.5x its rate
                        peer_pool = max(pool_rate, closed.result.throughput * 1.5)
                        peers += _peers(runner, work, backend, account, servers, peer_pool, memory_mb)
                    pool_rate = max(500.0, closed.result.throughput * 1.3)
                else:
                    runner.check_database(backend, run.name)
                runner.answered = runner.requests = 0
        except KeyboardInterrupt:
            print("\ninterrupted: stopping the servers", file=sys.stderr)
            return 130
        except (BenchError, TimeoutError, RuntimeError, OSError, SQLAlchemyError, RedisError) as exc:
            print(f"\nbenchmark could not run: {exc}", file=sys.stderr)
            for server in servers:
                if server.proc.poll() is not None:
                    print(f"{server.name} log:\n{server.log_tail()}", file=sys.stderr)
            return 2
        finally:
            for server in servers:
                server.stop()
            stop_embedded()
        _report(args, backend, measured, runner, app_revision, load_before, baseline, peers, memory_mb)
    return 1 if runner.problems else 0


PEERS = (
    ("werobot-echo", "bench.werobot_reference:echo_app()"),
    ("werobot-session", "bench.werobot_reference:session_app()"),
)


def _peers(
    runner: Runner,
    work: Path,
    backend: Backend,
    account: Account,
    servers: list[Server],
    pool_rate: float,
    memory_mb: dict[str, tuple[float, float]],
) -> list[Row]:
    """The WeRoBot references, one after the other: warm-up and maximum throughput, their failures not fatal."""
    args = runner.args
    rows = []
    for name, spec in PEERS:
        env = server_env(work, backend, account, work / f"prometheus-{name}")
        server = start_server(name, spec, work, env, args.workers, args.threads)
        servers.append(server)
        wait_healthy(server)
        print(f"{name}: gunicorn {spec} on 127.0.0.1:{server.port}")
        if args.warmup:
            runner.phase(server, "echo", "closed", args.warmup, pool_rate, label="warm-up", fatal=False)
        rows.append(runner.phase(server, "echo", "closed", args.duration, pool_rate, fatal=False))
        memory_mb[name] = server.memory_mb()
        server.stop()
        runner.answered = runner.requests = 0
    return rows


def _command(args: argparse.Namespace) -> str:
    """The run as a command line, with the options that have an environment variable written as that variable."""
    env = {
        "--database-url": f"BENCH_DATABASE_URL={args.database_url}" if args.database_url else "",
        "--redis-url": f"BENCH_REDIS_URL={args.redis_url}" if args.redis_url else "",
        "--baseline": f"BENCH_BASELINE={args.baseline}" if args.baseline else "",
        "--rounds": f"BENCH_ROUNDS={args.rounds}" if args.rounds > 1 else "",
    }
    argv: list[str] = []
    value_follows = False
    for arg in sys.argv[1:]:
        if value_follows:
            value_follows = False
        elif arg.split("=", 1)[0] in env:
            value_follows = "=" not in arg
        else:
            argv.append(arg)
    return " ".join([*filter(None, env.values()), "python -m bench.webhook", *(shlex.quote(a) for a in argv)])


def _report(
    args: argparse.Namespace,
    backend: Backend,
    measured: list[tuple[ab.Run, Row, Row]],
    runner: Runner,
    app_revision: str,
    load_before: str,
    baseline: ab.Baseline | None,
    peers: list[Row],
    memory_mb: dict[str, tuple[float, float]],
) -> None:
    problems = runner.problems

    def rounds(role: ab.Role) -> list[tuple[ab.Run, Row, Row]]:
        return [(run, closed, opened) for run, closed, opened in measured if run.role == role]

    def medians(role: ab.Role) -> list[Row]:
        """``role``'s closed- and open-loop rows from its median rounds (by throughput, by p99 at the rate)."""
        done = rounds(role)
        return [
            median([closed for _, closed, _ in done], key=lambda row: row.result.throughput),
            median([opened for _, _, opened in done], key=lambda row: row.result.percentile(0.99)),
        ]

    def samples(role: ab.Role) -> list[Sample]:
        return [
            Sample(
                run.round,
                closed.result.throughput,
                closed.server_ms_per_push,
                opened.result.percentile(0.99),
                closed.result.errors + opened.result.errors,
            )
            for run, closed, opened in rounds(role)
        ]

    roles: list[ab.Role] = ["reference", "baseline", "app"] if baseline else ["reference", "app"]
    table = [row for role in roles for row in medians(role)]
    table[2:2] = peers  # after the reference's rows; the app's stay last
    print()
    print(console_table(table))
    print()
    v = verdicts(table[0], table[-2], table[-1].result)
    dialect = "sqlite" if backend.database_url.startswith("sqlite") else "postgresql"
    lines = peer_lines(table[0], peers, table[-2], memory_mb, dialect) + verdict_lines(v, args.rate)
    if baseline:
        lines += ab_lines(baseline.label, args.rate, samples("app"), samples("baseline"), baseline.caveat)
    for line in lines:
        print(line)
    notes = []
    rows = [row for _, closed, opened in measured for row in (closed, opened)] + peers
    for row in rows:
        if row.result.built_live:
            notes.append(f"{row.result.spec.target} {row.phase}: {row.result.built_live} pushes built live")
        if row.result.unsent:
            notes.append(
                f"{row.result.spec.target} fixed rate: {row.result.unsent} scheduled pushes were never sent: the "
                f"server was still behind at {OPEN_LOOP_CUTOFF:g}x the phase duration (or {PUSH_MAX_AGE:g} s)"
            )
        if row.result.spec.mode == "open" and row.result.max_late > 0.005:
            notes.append(
                f"{row.result.spec.target} fixed rate: some sends started up to {row.result.max_late * 1000:.0f} ms "
                "late (all connections busy); counted in the latency"
            )
    notes += [f"{failure} (a reference: counted against its goodput, not a failure of the run)"
              for failure in runner.peer_failures]  # fmt: skip
    for note in notes:
        print(f"note: {note}")
    if problems:
        print("\n!!! THE RUN HAD FAILURES (the numbers above include them):", file=sys.stderr)
        for problem in problems:
            print(f"!!!   {problem}", file=sys.stderr)
        lines = [f"**FAILED: {problem}**" for problem in problems] + lines
    if args.no_record:
        return
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    setup = (
        f"gunicorn {args.workers} workers x {args.threads} threads (gthread, as cli/runner.py); load generator "
        f"{args.loadgen_processes} processes on the same machine; {args.duration:g} s per phase after a "
        f"{args.warmup:g} s warm-up; closed loop {args.connections} connections; open loop {args.rate:g}/s over "
        f"{args.open_connections} connections, latency from the scheduled send time"
    )
    section = markdown_section(
        when=when, command=_command(args), backend=backend.label, settings_line=setup, rows=table, lines=lines,
        notes=notes, app_revision=app_revision, load_before=load_before,
    )  # fmt: skip
    write_block(args.results, "webhook", section, intro=WEBHOOK_INTRO)
    print(f"\nrecorded in {args.results}")


if __name__ == "__main__":
    sys.exit(main())
