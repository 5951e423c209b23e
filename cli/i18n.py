"""``python -m cli i18n``: keep the message catalogues in line with the copy in ``core/texts/zh.py``."""

from __future__ import annotations

import sys

import click

from core import i18n
from core.texts import zh


@click.group("i18n")
def i18n_group() -> None:
    """The zh_CN and en message catalogues (translations/)."""


@i18n_group.command("update")
def update_cmd() -> None:
    """Add new texts to every catalogue (untranslated), mark changed ones fuzzy, drop removed ones."""
    entries = i18n.module_entries(zh)
    for language in i18n.LANGUAGES:
        catalog = i18n.update(entries, language)
        untranslated = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
        click.echo(f"{i18n.catalogue_path(language)}: {len(entries)} texts, {untranslated} to translate")


@i18n_group.command("check")
def check_cmd() -> None:
    """Exit 1 and name every text that is missing, fuzzy or has other placeholders in a catalogue."""
    problems = i18n.check(i18n.module_entries(zh))
    for problem in problems:
        click.echo(str(problem), err=True)
    if problems:
        sys.exit(1)
    click.echo("every text is translated in " + ", ".join(i18n.LANGUAGES))
