"""The A/B against another revision: ``--baseline REF`` and ``--rounds N`` for both benchmarks.

Owns what makes a run an A/B and nothing else: the two options (env ``BENCH_BASELINE``, ``BENCH_ROUNDS``), the
temporary detached ``git worktree`` of REF whose ``wsgi:app`` the baseline server serves with this venv (removed in
every case, Ctrl-C included) and the order of the servers (the reference once, then each round's baseline/app pair,
the pair's order alternating from round to round so that a drift in the machine's load favours neither). The
benchmarks own the phases and the storage (prepared afresh before each app after the first, by the same
``bench/servers.py`` code as before the first); ``bench/report.py`` owns the medians and the "app vs baseline" line.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bench.servers import BenchError
from core.settings import PROJECT_ROOT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--baseline",
        metavar="REF",
        default=os.environ.get("BENCH_BASELINE", ""),
        help="also serve wsgi:app as it is at git revision REF (a temporary worktree, run with this venv) through "
        "the same phases on the same storage, and compare the app with it (env BENCH_BASELINE)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=os.environ.get("BENCH_ROUNDS", "1"),
        help="with --baseline: baseline/app pairs to run; the median of each number is reported (default 1, env "
        "BENCH_ROUNDS)",
    )


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be between 1 and 20")
    if args.rounds > 1 and not args.baseline:
        parser.error("--rounds (BENCH_ROUNDS) needs --baseline (BENCH_BASELINE)")


@dataclass(frozen=True)
class Baseline:
    """REF checked out in ``tree``; ``caveat`` says when it does not share the working tree's migrations."""

    ref: str
    short: str
    tree: Path
    caveat: str

    @property
    def label(self) -> str:
        return f"{self.ref} = {self.short}"


def _git(*args: str) -> str:
    """Run git in the project, in its own session: a Ctrl-C lets it finish instead of leaving a half-made worktree."""
    proc = subprocess.Popen(  # our own argv
        ["git", *args], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate()
    except KeyboardInterrupt:
        proc.wait()  # its output is a few lines: the pipes cannot fill
        raise
    if proc.returncode:
        raise BenchError(f"git {' '.join(args)}: {err.strip()}")
    return out.strip()


@contextlib.contextmanager
def baseline_tree(ref: str) -> Iterator[Baseline | None]:
    """A detached worktree of ``ref`` in a temporary directory for the time of the block (None without ``ref``)."""
    if not ref:
        yield None
        return
    try:
        sha = _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except BenchError:
        raise BenchError(f"--baseline {ref}: not a commit of this repository") from None
    tree = Path(tempfile.mkdtemp(prefix="xiaoyou-baseline-"))
    try:
        _git("worktree", "add", "--detach", str(tree), sha)
        migrations = [
            *_git("diff", "--name-only", sha, "--", "migrations").split(),
            *_git("ls-files", "--others", "--exclude-standard", "--", "migrations").split(),
        ]
        caveat = (
            f"the working tree's migrations differ from {ref}'s ({', '.join(migrations)}): the baseline ran on the "
            "working tree's schema"
            if migrations
            else ""
        )
        yield Baseline(ref, _git("rev-parse", "--short", sha), tree, caveat)
    finally:
        try:  # twice --force: also when an interrupted add left it locked
            _git("worktree", "remove", "--force", "--force", str(tree))
        except BenchError:  # never registered, or half made: delete the directory, then git's record of it
            shutil.rmtree(tree, ignore_errors=True)
            with contextlib.suppress(BenchError):
                _git("worktree", "prune")


Role = Literal["reference", "baseline", "app"]


@dataclass(frozen=True)
class Run:
    """One server of the run: what it serves, from which tree, and its round (0 for the reference)."""

    role: Role
    name: str  # the server's name in logs and tables; "-r<round>" when there are several rounds
    app_spec: str
    tree: Path
    round: int
    prepare: bool = False  # prepare the storage again first: an app has used it since it was prepared


def plan(reference: str, app_name: str, baseline: Baseline | None, rounds: int) -> list[Run]:
    """The reference, then the app; with a baseline, ``rounds`` pairs: baseline first in odd rounds, app in even.

    The reference touches no storage, so the first app finds it as prepared; every later app finds it prepared again.
    """
    runs = [Run("reference", "reference", reference, PROJECT_ROOT, 0)]
    if baseline is None:
        return [*runs, Run("app", app_name, "wsgi:app", PROJECT_ROOT, 1)]
    for k in range(1, rounds + 1):
        suffix = f"-r{k}" if rounds > 1 else ""
        pair = [
            Run("baseline", f"baseline{suffix}", "wsgi:app", baseline.tree, k, prepare=True),
            Run("app", f"{app_name}{suffix}", "wsgi:app", PROJECT_ROOT, k, prepare=True),
        ]
        runs.extend(pair if k % 2 else pair[::-1])
    runs[1] = replace(runs[1], prepare=False)
    return runs
