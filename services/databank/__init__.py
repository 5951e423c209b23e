"""The alumni databank: the golden record of the association's graduates, and every rule about it.

Modules: ``keys`` (encryption and blind indexes), ``names`` (name and label forms), ``roster`` (reading and
validating registrar files), ``importer`` (the import's rules: batches, upserts, rollback), with ``workers``
(checking blocks of a file in parallel), ``rows`` (new rows as COPY text or parameters) and ``bulkload`` (the
PostgreSQL first load: locks, constraints, COPY) beside it, ``search``, ``merge`` (duplicates and merges),
``privacy`` (masking, reveal, exports and data-subject requests, consent), ``verification`` (identity claims),
``audit`` and ``demo`` (a generated roster). Like every service, these take a SQLAlchemy Session and raise
``core.errors``.

Importing the package keeps an education record's folded labels (``college_folded``, ``major_folded``,
``class_name_folded``) in step with its labels whenever one is assigned through the ORM (an import's update,
a correction, an anonymisation, a rollback or an unmerge): one attribute event, so no writer can forget it. Every
ORM writer of education records is in this package; new rows written in bulk (COPY, executemany) get theirs from
``rows``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from models import EducationRecord
from services.databank.names import label_key

FOLDED = {"college": "college_folded", "major": "major_folded", "class_name": "class_name_folded"}


def _keep_folded(folded: str) -> Any:
    def on_set(target: EducationRecord, value: str | None, _old: Any, _initiator: Any) -> None:
        setattr(target, folded, label_key(value))

    return on_set


for _label, _folded in FOLDED.items():
    event.listen(getattr(EducationRecord, _label), "set", _keep_folded(_folded))
