"""The import's validation stage: a roster's blocks validated in file order, in worker processes for big files.

Owns running ``roster.Preparer`` over the ``Block``s of one import: in this process, or in a pool of ``spawn``ed
worker processes with a few blocks in flight per worker (memory stays flat however long the file is), handing the
results back in file order. For each block it gives what the importing process needs and nothing sensitive in clear:
the row errors, a short hash of each valid row's key (to find duplicates across blocks), and the valid rows, either
as ``Prepared`` records or, on the first load, already turned into COPY text (``rows.CopyText``) with the person
ids the importer reserved for the block.

It touches no database and decides nothing about what is written: duplicates, trust and the writing are the
importer's, the rules of a row are the roster's.

Module state: ``_worker``, set once in each worker process by the pool's initializer (the ``Preparer`` and the COPY
text builder of that import). Handing them over once per process, not with every block, keeps a block's task small
and lets each worker keep its ``Preparer``'s cache of parsed values from block to block. The importing process
never sets it.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from services.databank.roster import Block, Prepared, Preparer, RowError
from services.databank.rows import CopyText

IN_FLIGHT = 4  # blocks handed to each worker ahead: enough to keep it busy while the importer waits on the database


class Checked(NamedTuple):
    """One block validated; nothing in it is sensitive in clear."""

    lines: int  # what the block spans (for the progress bar)
    rows: int  # rows that were not blank
    errors: list[RowError]
    keys: list[tuple[int, int, str]]  # (64-bit hash of institution and student_no, row, student_no) per valid row
    prepared: list[Prepared]  # the valid rows, unless turned into COPY text
    copy: dict[str, bytes]  # bulk loads: the valid rows as COPY text per table, their people numbered from ``ids``


def check(preparer: Preparer, block: Block, ids: list[int] | None, copy: CopyText | None) -> Checked:
    """Validate ``block``; with ``ids`` (one per line of the block) and ``copy``, also write its rows as COPY text."""
    errors: list[RowError] = []
    keys: list[tuple[int, int, str]] = []
    prepared: list[Prepared] = []
    rows = 0
    for row, values in block.rows():
        rows += 1
        item = preparer.prepare(row, values)
        if isinstance(item, list):
            errors.extend(item)
            continue
        key = hashlib.blake2b(f"{item.institution}\x00{item.student_no}".encode(), digest_size=8).digest()
        keys.append((int.from_bytes(key), row, item.student_no))
        if ids is not None and copy is not None:
            copy.add(item, ids[len(keys) - 1])
        else:
            prepared.append(item)
    return Checked(block.lines, rows, errors, keys, prepared, copy.take() if copy is not None else {})


def checked_blocks(
    blocks: Iterator[Block],
    preparer: Preparer,
    workers: int,
    reserve: Callable[[Block], list[int] | None],
    copy: CopyText | None,
) -> Iterator[Checked]:
    """The blocks validated, in file order. ``reserve`` runs in this process just before a block is handed out."""
    if workers <= 1:
        for block in blocks:
            yield check(preparer, block, reserve(block), copy)
        return
    # spawn: workers start clean (no inherited connections or locks); at most IN_FLIGHT blocks per worker in flight, so
    # memory stays flat however long the file is.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(preparer, copy)) as pool:
        pending: deque[Any] = deque()
        for block in blocks:
            pending.append(pool.apply_async(_check_in_worker, (block, reserve(block))))
            if len(pending) >= workers * IN_FLIGHT:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


# --- in a worker process ---------------------------------------------------------------------------------------------

_worker: tuple[Preparer, CopyText | None] | None = None  # see the module docstring


def _init_worker(preparer: Preparer, copy: CopyText | None) -> None:
    global _worker  # noqa: PLW0603 - one preparer per worker process
    _worker = (preparer, copy)


def _check_in_worker(block: Block, ids: list[int] | None) -> Checked:
    assert _worker is not None
    preparer, copy = _worker
    return check(preparer, block, ids, copy)
