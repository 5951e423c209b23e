"""The message catalogues against the copy: every text of core/texts/zh.py is translated in every language with the
same placeholders, and every ``texts.NAME`` the code reads exists (attribute access on the localised module is
dynamic, so mypy no longer checks the names)."""

from __future__ import annotations

import ast
from pathlib import Path

from core import i18n
from core.texts import zh

ROOT = Path(__file__).resolve().parents[2]
SKIP = {".venv", ".git", "node_modules", "var"}


def test_every_text_is_translated_in_every_language() -> None:
    problems = i18n.check(i18n.module_entries(zh))
    assert not problems, "run `make messages`, then translate:\n" + "\n".join(map(str, problems[:50]))


def test_every_text_the_code_reads_exists() -> None:
    names = set(vars(zh))
    missing = []
    for path in ROOT.rglob("*.py"):
        if SKIP & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "texts"
                and node.attr.isupper()
                and node.attr not in names
            ):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} texts.{node.attr}")
    assert not missing, "\n".join(missing)
