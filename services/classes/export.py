"""The coverage of every cohort in a caller's scope as an .xlsx workbook (the office's export; the console and
``python -m cli classes coverage --xlsx`` both write it here).

openpyxl's write-only mode streams the rows (``coverage.all_rows`` reads them ``yield_per``), so 20,000 cohorts never
sit in memory as cells. Every text cell is stored as text, never as a formula (a label starting with "=" stays the
label), like the roster import's error report.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy.orm import Session

from services.classes import coverage


def _text(sheet: Any, value: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # text, even when it starts with "="
    return cell


def coverage_xlsx(
    session: Session,
    out: IO[bytes] | str,
    *,
    cohorts: frozenset[int] | None,
    header: Sequence[str],
    liaison_words: tuple[str, str] | None = None,
    sheet_name: str = "coverage",
) -> int:
    """Write the workbook to ``out`` (a path or a binary stream): ``header`` (7 titles), then one row per cohort in
    ``cohorts`` (None: all): id, label, roster, joined, verified, percent, and whether it has a liaison (a bool, or
    ``liaison_words`` = (yes, no)). Returns how many cohorts were written."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.append([_text(sheet, title) for title in header])
    count = 0
    for row in coverage.all_rows(session, cohorts=cohorts):
        has: Any = row.has_liaison
        if liaison_words is not None:
            has = _text(sheet, liaison_words[0] if row.has_liaison else liaison_words[1])
        sheet.append([row.cohort_id, _text(sheet, row.label), row.roster, row.joined, row.verified, row.percent, has])
        count += 1
    book.save(out)
    return count
