"""The load generator: distinct, signed, encrypted pushes, sent from several processes, every reply checked.

Owns what is sent (the push mix), how it is sent (closed loop or open loop, keep-alive connections) and how the
answers are judged. Each worker process builds its share of pushes with ``emulator.wire.Account.build_push`` (the
single implementation of "what WeChat sends") before the clock starts, waits for the common start signal, then
only writes pre-serialised HTTP requests and reads the answers, so that it costs the shared CPUs as little as
possible. Replies are decrypted and compared with the expected text after the timed window closes.

Push mix (per worker, by index): 80 % text keywords the help handler answers (帮助, help, 菜单, ？) from a pool of
returning users taken round-robin (a user comes back only after 2,000 other pushes, so one user never has two
pushes in flight); 10 % ``subscribe`` and 10 % menu ``CLICK`` ``HELP`` from users seen once (an event's identity is
sender + CreateTime, so a repeated sender within one second would be a duplicate, not a new push). MsgIds are
``seed << 32 | index`` with a seed distinct per phase and worker, so no two pushes of a run share one.

Another mix (``PhaseSpec.mix``: ``("module:function", *args)``): the function, imported in each worker process,
gives push ``index``'s fields and the reply it must get (the exact text, or a pattern the whole text must match):
``function(*args, seed=, worker=, index=, expect=) -> (fields, expected)``. ``bench/inquiries_bench.py`` sends the
help desk's free text this way.

Latency: closed loop, from just before the request is written to the end of the response; open loop, from the
*scheduled* send time (so a late send counts against the server: no coordinated omission).
"""

from __future__ import annotations

import functools
import importlib
import itertools
import multiprocessing as mp
import queue
import re
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from core import texts
from emulator.wire import Account

Mode = Literal["closed", "open"]
Expect = Literal["bot", "echo"]

OA_USERNAME = "gh_xiaoyou_bench"
USER_POOL = 2000
TEXT_KEYWORDS = ("帮助", "help", "菜单", "？")
SOCKET_TIMEOUT = 10.0
MAX_SAMPLES = 5
OPEN_LOOP_CUTOFF = 3.0  # an open-loop phase stops sending after this many times its duration (server far behind)
PUSH_MAX_AGE = 270.0  # pushes are signed before the phase; the webhook refuses timestamps over 300 s old


@dataclass(frozen=True)
class PhaseSpec:
    """One timed phase against one server, as every worker process receives it."""

    target: str
    expect: Expect
    host: str
    port: int
    account: Account
    mode: Mode
    duration: float
    processes: int
    connections: int  # total over all processes
    rate: float = 0.0  # open loop: pushes per second over all processes
    pool_rate: float = 0.0  # closed loop: pre-built pushes per second of duration (more are built live if needed)
    seed_base: int = 0
    mix: tuple[str, ...] = ()  # another push mix than the one above: ("module:function", *args) (module docstring)


@dataclass
class WorkerResult:
    index: int
    sent: int = 0
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    cpu_seconds: float = 0.0
    transport_errors: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    built_live: int = 0
    max_late: float = 0.0
    unsent: int = 0


@dataclass
class PhaseResult:
    spec: PhaseSpec
    sent: int
    ok: int
    errors: int
    throughput: float
    latencies: list[float]  # seconds, sorted
    loadgen_cpu: float  # CPU seconds used by the generator processes in the timed window
    wall: float
    failures: Counter[str]
    samples: list[str]
    built_live: int
    max_late: float
    unsent: int  # open loop: scheduled pushes never sent because the server had fallen too far behind

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds (NaN with no samples)."""
        if not self.latencies:
            return float("nan")
        rank = max(1, min(len(self.latencies), int(q * len(self.latencies) + 0.999999)))
        return self.latencies[rank - 1] * 1000


# --- what is sent ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    request: bytes
    openid: str
    expected: str | re.Pattern[str]


def push_fields(seed: int, worker: int, index: int) -> dict[str, object]:
    """The fields of push number ``index`` of one worker in one phase (see the module docstring for the mix)."""
    now = int(time.time())
    base: dict[str, object] = {"ToUserName": OA_USERNAME, "CreateTime": now}
    kind = index % 10
    if kind == 0:
        return {**base, "FromUserName": f"o_bench_{seed:x}_{index}", "MsgType": "event", "Event": "subscribe"}
    if kind == 5:
        return {
            **base,
            "FromUserName": f"o_bench_{seed:x}_{index}",
            "MsgType": "event",
            "Event": "CLICK",
            "EventKey": "HELP",
        }
    return {
        **base,
        "FromUserName": f"o_bench_w{worker}_u{index % USER_POOL}",
        "MsgType": "text",
        "Content": TEXT_KEYWORDS[index % len(TEXT_KEYWORDS)],
        "MsgId": (seed << 32) | index,
    }


def expected_reply(fields: dict[str, object], expect: Expect) -> str:
    if expect == "echo":
        if fields["MsgType"] == "event":
            return f"event:{str(fields['Event']).lower()}"
        return str(fields["Content"])
    if fields.get("Event") == "subscribe":
        return texts.WELCOME
    return texts.HELP


Mix = Callable[..., tuple[dict[str, object], "str | re.Pattern[str]"]]


@functools.cache
def _mix_function(path: str) -> Mix:
    module, _, name = path.partition(":")
    found: Mix = getattr(importlib.import_module(module), name)
    return found


def prepare(spec: PhaseSpec, worker: int, index: int) -> Prepared:
    seed = spec.seed_base + worker
    expected: str | re.Pattern[str]
    if spec.mix:
        function = _mix_function(spec.mix[0])
        fields, expected = function(*spec.mix[1:], seed=seed, worker=worker, index=index, expect=spec.expect)
    else:
        fields = push_fields(seed, worker, index)
        expected = expected_reply(fields, spec.expect)
    push = spec.account.build_push(fields, mode="safe")
    head = (
        f"POST /wechat?{urlencode(push.query)} HTTP/1.1\r\n"
        f"Host: {spec.host}:{spec.port}\r\n"
        "Content-Type: text/xml\r\n"
        f"Content-Length: {len(push.body)}\r\n\r\n"
    )
    return Prepared(head.encode() + push.body, str(fields["FromUserName"]), expected)


# --- how it is sent -------------------------------------------------------------------------------------------


class ProtocolError(Exception):
    """The server answered something this minimal HTTP/1.1 client does not accept."""


class Connection:
    """One keep-alive HTTP/1.1 connection that writes pre-built requests and reads Content-Length responses.

    Deliberately minimal (no chunked bodies, no redirects): parsing headers with ``http.client`` would cost the
    shared CPUs more than the reference server spends on some requests.
    """

    def __init__(self, host: str, port: int) -> None:
        self.address = (host, port)
        self.sock: socket.socket | None = None
        self.buffer = bytearray()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer.clear()

    def _recv(self, sock: socket.socket) -> None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        self.buffer += chunk

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=SOCKET_TIMEOUT)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = self.sock
        try:
            sock.sendall(request)
            while (end := self.buffer.find(b"\r\n\r\n")) < 0:
                self._recv(sock)
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            del self.buffer[: end + 4]
            status = int(lines[0].split(" ", 2)[1])
            length: int | None = None
            close = lines[0].startswith("HTTP/1.0")
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    close = value.strip().lower() == "close"
                elif name == "transfer-encoding":
                    raise ProtocolError(f"unsupported transfer-encoding {value.strip()}")
            if length is None:
                raise ProtocolError("response without Content-Length")
            while len(self.buffer) < length:
                self._recv(sock)
            body = bytes(self.buffer[:length])
            del self.buffer[:length]
        except BaseException:
            self.close()
            raise
        if close:
            self.close()
        return status, body


@dataclass
class _ThreadLog:
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[int, int, bytes]] = field(default_factory=list)  # (push index, status, body)
    errors: list[str] = field(default_factory=list)
    last_done: float = 0.0
    max_late: float = 0.0
    unsent: int = 0


def _closed_loop(
    spec: PhaseSpec, get: Callable[[int], Prepared], counter: Any, t_end: float, log: _ThreadLog, stop: threading.Event
) -> None:
    conn = Connection(spec.host, spec.port)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            if started >= t_end:
                break
            index = next(counter)
            prepared = get(index)
            started = time.perf_counter()
            try:
                status, body = conn.exchange(prepared.request)
            except (OSError, ProtocolError, ValueError, IndexError) as exc:
                log.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            done = time.perf_counter()
            log.latencies.append(done - started)
            log.answers.append((index, status, body))
            log.last_done = done
    finally:
        conn.close()


def _open_loop(
    spec: PhaseSpec, get: Callable[[int], Prepared], counter: Any, t0: float, slots: int, interval: float,
    log: _ThreadLog, stop: threading.Event,
) -> None:  # fmt: skip
    conn = Connection(spec.host, spec.port)
    cutoff = t0 + min(spec.duration * OPEN_LOOP_CUTOFF, PUSH_MAX_AGE)
    try:
        while (index := next(counter)) < slots and not stop.is_set():
            prepared = get(index)
            scheduled = t0 + index * interval
            now = time.perf_counter()
            if now > cutoff:
                log.unsent += 1
                continue
            wait = scheduled - now
            if wait > 0:
                stop.wait(wait)
            else:
                log.max_late = max(log.max_late, -wait)
            try:
                status, body = conn.exchange(prepared.request)
            except (OSError, ProtocolError, ValueError, IndexError) as exc:
                log.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            done = time.perf_counter()
            log.latencies.append(done - scheduled)
            log.answers.append((index, status, body))
            log.last_done = done
    finally:
        conn.close()


def _judge(spec: PhaseSpec, get: Callable[[int], Prepared], log: _ThreadLog, result: WorkerResult) -> None:
    """Every answer must be HTTP 200 and an encrypted reply to the right user with the expected text."""

    def fail(reason: str, detail: str) -> None:
        result.failures[reason] += 1
        if len(result.samples) < MAX_SAMPLES:
            result.samples.append(f"{reason}: {detail[:200]}")

    for message in log.errors:
        fail("transport", message)
    for index, status, body in log.answers:
        prepared = get(index)
        if status != 200:
            fail(f"http {status}", body.decode("utf-8", "replace"))
            continue
        try:
            reply = spec.account.read_reply(body, encrypted=True)
        except Exception as exc:  # any way of not being a valid reply is a failure of the server
            fail("not a valid encrypted reply", f"{type(exc).__name__}: {exc}")
            continue
        if not reply:
            fail("answered success (no passive reply)", prepared.openid)
        elif reply.get("ToUserName") != prepared.openid or reply.get("MsgType") != "text":
            fail("reply to the wrong user or of the wrong type", str(reply)[:200])
        elif not _expected(prepared.expected, reply.get("Content", "")):
            fail("unexpected reply text", reply.get("Content", ""))


def _expected(expected: str | re.Pattern[str], content: str) -> bool:
    if isinstance(expected, str):
        return content == expected
    return expected.fullmatch(content) is not None


def worker_main(spec: PhaseSpec, worker: int, events: Any, start: Any) -> None:
    """One load-generator process: build, signal ready, wait for the start, send, then judge and report."""
    try:
        events.put(("result", worker, _run_worker(spec, worker, events, start)))
    except KeyboardInterrupt:
        pass
    except Exception:
        events.put(("error", worker, traceback.format_exc()))


def _run_worker(spec: PhaseSpec, worker: int, events: Any, start: Any) -> WorkerResult:
    result = WorkerResult(index=worker)
    share = spec.connections // spec.processes + (1 if worker < spec.connections % spec.processes else 0)
    if spec.mode == "open":
        rate = spec.rate / spec.processes
        slots = int(rate * spec.duration)
        interval = 1.0 / rate
        pool_size = slots
    else:
        rate, slots, interval = 0.0, 0, 0.0
        pool_size = int(spec.pool_rate * spec.duration / spec.processes)
    pool = [prepare(spec, worker, i) for i in range(pool_size)]
    live: dict[int, Prepared] = {}
    live_lock = threading.Lock()

    def get(index: int) -> Prepared:
        if index < len(pool):
            return pool[index]
        with live_lock:  # the pool ran out: build it now (counted, and reported as a warning)
            if index not in live:
                live[index] = prepare(spec, worker, index)
            return live[index]

    events.put(("ready", worker, None))
    start.wait()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    counter = itertools.count()
    logs = [_ThreadLog() for _ in range(max(1, share))]
    stop = threading.Event()  # set on Ctrl-C/SIGTERM so the senders end now, not at the end of the phase
    if spec.mode == "open":
        offset = worker / spec.rate  # interleave the processes' schedules
        threads = [
            threading.Thread(
                target=_open_loop, args=(spec, get, counter, t0 + offset, slots, interval, log, stop), daemon=True
            )
            for log in logs
        ]
    else:
        threads = [
            threading.Thread(target=_closed_loop, args=(spec, get, counter, t0 + spec.duration, log, stop), daemon=True)
            for log in logs
        ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    except BaseException:
        stop.set()
        raise
    result.cpu_seconds = time.process_time() - cpu0
    result.elapsed = max((log.last_done for log in logs), default=t0) - t0
    result.built_live = len(live)
    for log in logs:
        result.latencies.extend(log.latencies)
        result.sent += len(log.answers) + len(log.errors)
        result.transport_errors += len(log.errors)
        result.max_late = max(result.max_late, log.max_late)
        result.unsent += log.unsent
        _judge(spec, get, log, result)
    return result


def run_phase(
    spec: PhaseSpec,
    on_start: Callable[[], None] | None = None,
    on_end: Callable[[], None] | None = None,
    ready_timeout: float = 300,
) -> PhaseResult:
    """Start the worker processes, wait until every one has built its pushes, start them together, collect.

    ``on_start`` runs just before the start signal and ``on_end`` when the sending window closes (before the
    workers judge the replies), so the caller can account CPU over the window alone.
    """
    ctx = mp.get_context("spawn")  # a clean interpreter: nothing of the parent (Redis clients, threads) is forked
    events = ctx.Queue()
    start = ctx.Event()
    procs = [ctx.Process(target=worker_main, args=(spec, w, events, start), daemon=True) for w in range(spec.processes)]
    results: list[WorkerResult] = []
    try:
        for proc in procs:
            proc.start()
        waiting = set(range(spec.processes))
        deadline = time.monotonic() + ready_timeout
        while waiting:
            kind, worker, payload = _next_event(events, procs, deadline)
            if kind == "error":
                raise RuntimeError(f"load generator {worker} failed:\n{payload}")
            waiting.discard(worker)
        if on_start is not None:
            on_start()
        started = time.perf_counter()
        start.set()
        time.sleep(spec.duration)
        if on_end is not None:
            on_end()
        waiting = set(range(spec.processes))
        deadline = time.monotonic() + spec.duration + 120
        while waiting:
            kind, worker, payload = _next_event(events, procs, deadline)
            if kind == "error":
                raise RuntimeError(f"load generator {worker} failed:\n{payload}")
            results.append(payload)
            waiting.discard(worker)
        wall = time.perf_counter() - started
    except BaseException:
        for proc in procs:  # interrupted or broken: stop the generators now rather than let them finish the phase
            if proc.pid is not None and proc.is_alive():
                proc.terminate()
        raise
    finally:
        for proc in procs:
            if proc.pid is None:  # never started
                continue
            proc.join(timeout=2)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        events.close()
    return _merge(spec, results, wall)


def _next_event(events: Any, procs: list[Any], deadline: float) -> tuple[str, int, Any]:
    while True:
        try:
            item: tuple[str, int, Any] = events.get(timeout=0.5)
            return item
        except queue.Empty:
            if time.monotonic() > deadline:
                raise TimeoutError("load generator processes did not report in time") from None
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a load generator process died (exit code {dead[0].exitcode})") from None


def _merge(spec: PhaseSpec, results: list[WorkerResult], wall: float) -> PhaseResult:
    failures: Counter[str] = Counter()
    samples: list[str] = []
    latencies: list[float] = []
    for r in results:
        failures.update(r.failures)
        samples.extend(r.samples)
        latencies.extend(r.latencies)
    latencies.sort()
    sent = sum(r.sent for r in results)
    errors = sum(failures.values())
    # Closed loop: each process's completions over its own window; open loop: completions over the schedule.
    throughput = sum(len(r.latencies) / r.elapsed for r in results if r.elapsed > 0)
    return PhaseResult(
        spec=spec,
        sent=sent,
        ok=sent - errors,
        errors=errors,
        throughput=throughput,
        latencies=latencies,
        loadgen_cpu=sum(r.cpu_seconds for r in results),
        wall=wall,
        failures=failures,
        samples=samples[:MAX_SAMPLES],
        built_live=sum(r.built_live for r in results),
        max_late=max((r.max_late for r in results), default=0.0),
        unsent=sum(r.unsent for r in results),
    )
