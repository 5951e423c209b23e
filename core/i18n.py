"""The languages users read: zh_CN, the source every text is written in, and en, kept as a gettext catalogue.

Owns the current language of a unit of work (a context variable: ``use("en")`` around a push, a request, a job's
send), the catalogues (``translations/<language>/LC_MESSAGES/messages.po``, read through Babel), and the view of a
module of copy that answers each of its constants in the current language.

The copy stays in one module (``core/texts/zh.py``), written in Chinese as before; ``core.texts`` answers each of
its constants through :class:`Localised`, and :func:`module_entries` turns them into catalogue entries: the Chinese
is the message (``msgid``) and the constant's path is its context (``msgctxt``: ``WELCOME``,
``CONSOLE.imports_cancel``, ``IMPORT_REPORT_HEADER.2``), so two constants with the same Chinese may still read
differently in English, and a changed Chinese text no longer matches its old translation (the catalogue check then
names it). Strings are looked up at each access; dicts, tuples and lists of strings are
looked up item by item (dict keys are identifiers and stay as they are); anything else passes through unchanged.
A text missing from a catalogue falls back to the Chinese, so a gap is never an error at run time; ``make test``'s
catalogue check is where a gap fails.

Placeholders (``{name}``, formatted with ``str.format`` by the callers) must be the same in every language: the
check compares them, because a translation that drops or renames one would raise ``KeyError`` (or say less) when
formatted.
"""

from __future__ import annotations

import io
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

SOURCE = "zh_CN"  # the language core/texts/zh.py is written in
LANGUAGES = (SOURCE, "en")
DOMAIN = "messages"
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "translations"

_current: ContextVar[str] = ContextVar("language", default=SOURCE)


def normalise(tag: str | None) -> str | None:
    """One of :data:`LANGUAGES` for a language tag as WeChat (``zh_CN``, ``zh_TW``, ``en``), a browser
    (``en-GB``, ``zh-Hans-CN``) or a user writes it; None for a language we do not have."""
    if not tag:
        return None
    primary = tag.strip().replace("-", "_").split("_")[0].lower()
    return {"zh": SOURCE, "en": "en"}.get(primary)


def current() -> str:
    return _current.get()


@contextmanager
def use(language: str | None) -> Iterator[str]:
    """Read every text in ``language`` (any tag :func:`normalise` knows; others mean the source) inside the block."""
    chosen = normalise(language) or SOURCE
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


# What a browser or the mini-program may ask for (Accept-Language), best first; normalise() maps the match.
ACCEPTED_TAGS = ("zh-CN", "zh", "en")
# The console's language switch (a preference, not a credential: neither signed nor secret).
COOKIE = "xy_lang"


def choose(*candidates: str | None) -> str:
    """The first candidate that names a language we have (see :func:`normalise`), else the source language."""
    for candidate in candidates:
        chosen = normalise(candidate)
        if chosen is not None:
            return chosen
    return SOURCE


def activate(language: str | None) -> Token[str]:
    """Make ``language`` current until :func:`deactivate` (a request's hooks: its before and teardown)."""
    return _current.set(normalise(language) or SOURCE)


def deactivate(token: Token[str]) -> None:
    _current.reset(token)


def in_each_language(read: Callable[[], Any]) -> list[Any]:
    """``read()`` once in every language, source first: keyword routing accepts a word in either language."""
    found = []
    for language in LANGUAGES:
        with use(language):
            found.append(read())
    return found


class Text:
    """A class attribute read in the current language each time it is read: an error class's default message
    (``user_message = Text(lambda: texts.ERROR_NOT_FOUND)``), which would otherwise be fixed in the language of
    the moment the class was defined. An instance may still set its own message over it."""

    def __init__(self, read: Callable[[], str]) -> None:
        self._read = read

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return self._read()


# --- the catalogue's entries, from a module of copy


@dataclass(frozen=True)
class Entry:
    context: str  # the constant's path: NAME, NAME.key, NAME.0
    source: str  # the Chinese text


def entries_of(name: str, value: Any) -> Iterator[Entry]:
    """The localisable strings inside one constant, by path (see the module docstring for what is walked)."""
    if isinstance(value, str):
        if value:  # an empty text has nothing to translate (and gettext's empty msgid is the catalogue's header)
            yield Entry(name, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from entries_of(f"{name}.{key}", item)
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from entries_of(f"{name}.{index}", item)


def _constants(module: ModuleType) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items() if name.isupper() and not name.startswith("_")}


def module_entries(module: ModuleType) -> list[Entry]:
    return [entry for name, value in _constants(module).items() for entry in entries_of(name, value)]


# --- the catalogues


def catalogue_path(language: str, base: Path = CATALOGUE_DIR) -> Path:
    return base / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str, base: Path = CATALOGUE_DIR) -> Catalog:
    path = catalogue_path(language, base)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN)
    with path.open("rb") as fh:
        return read_po(fh, locale=language, domain=DOMAIN)


def write_catalogue(catalog: Catalog, language: str, base: Path = CATALOGUE_DIR) -> Path:
    path = catalogue_path(language, base)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=120, sort_output=False, include_previous=True)
    path.write_bytes(buffer.getvalue())
    return path


def template(entries: Sequence[Entry], *, project: str = "Xiaoyou") -> Catalog:
    """The catalogue template: every entry, untranslated, in the order the module defines them."""
    catalog = Catalog(project=project, domain=DOMAIN, fuzzy=False)
    for entry in entries:
        catalog.add(entry.source, context=entry.context)
    return catalog


def update(entries: Sequence[Entry], language: str, base: Path = CATALOGUE_DIR) -> Catalog:
    """Bring ``language``'s catalogue in line with the entries: new ones are added untranslated, a changed source
    keeps its old translation marked fuzzy (to be checked), removed ones are dropped. The source language's own
    catalogue translates every text to itself."""
    catalog = read_catalogue(language, base)
    # Babel's fuzzy matching compares msgids across the whole catalogue; the context names the constant exactly, so
    # a changed source is matched by its context instead.
    before = {m.context: m for m in catalog if m.id and m.string}
    catalog.update(template(entries), no_fuzzy_matching=True, update_creation_date=False)
    catalog.obsolete.clear()
    for message in catalog:
        old = before.get(message.context)
        if message.id and not message.string and old is not None and old.id != message.id:
            message.string = old.string
            message.previous_id = [str(old.id)]
            message.flags.add("fuzzy")
    if language == SOURCE:
        for message in catalog:
            if message.id:
                message.string = message.id
                message.flags.discard("fuzzy")
    write_catalogue(catalog, language, base)
    return catalog


def _fields(text: str) -> set[str]:
    try:
        return {field for _literal, field, _spec, _conv in string.Formatter().parse(text) if field is not None}
    except ValueError:  # a lone brace: not a format string
        return set()


@dataclass(frozen=True)
class Problem:
    language: str
    context: str
    what: str  # missing / fuzzy / placeholders differ: ...

    def __str__(self) -> str:
        return f"{self.language} {self.context}: {self.what}"


def check(entries: Sequence[Entry], base: Path = CATALOGUE_DIR) -> list[Problem]:
    """Every entry translated, not fuzzy, with the same placeholders, in every language's catalogue."""
    problems = []
    for language in LANGUAGES:
        catalog = read_catalogue(language, base)
        for entry in entries:
            message = catalog.get(entry.source, context=entry.context)
            if message is None or not message.string:
                problems.append(Problem(language, entry.context, "missing"))
            elif message.fuzzy:
                problems.append(Problem(language, entry.context, "fuzzy: the source changed since it was translated"))
            elif _fields(str(message.string)) != _fields(entry.source):
                want, got = sorted(_fields(entry.source)), sorted(_fields(str(message.string)))
                problems.append(Problem(language, entry.context, f"placeholders differ: {want} != {got}"))
    return problems


def load(language: str, base: Path = CATALOGUE_DIR) -> Translations:
    """``language``'s catalogue as gettext translations (compiled in memory: no .mo file to keep in step)."""
    buffer = io.BytesIO()
    write_mo(buffer, read_catalogue(language, base), use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


# --- a module of copy, answering in the current language


class Localised:
    """The constants of a module of copy, each read in the current language at every access.

    A string or a tuple is translated when it is read, so code keeps the constant (``texts.WELCOME``), not the
    value, until it uses it. A dict is returned as a :class:`LocalisedMapping`, which translates each item when it
    is read: ``T = texts.CONSOLE`` at import time still answers in the language of each later request."""

    def __init__(self, module: ModuleType, base: Path = CATALOGUE_DIR) -> None:
        self._source = _constants(module)
        self._translations = {language: load(language, base) for language in LANGUAGES if language != SOURCE}

    def names(self) -> list[str]:
        return list(self._source)

    def value(self, name: str) -> Any:
        try:
            source = self._source[name]
        except KeyError:
            raise AttributeError(f"core.texts has no text {name}") from None
        return self.translate(name, source)

    def translate(self, path: str, source: Any) -> Any:
        if isinstance(source, Mapping):
            return LocalisedMapping(self, path, source)
        language = _current.get()
        if language == SOURCE or not isinstance(source, (str, tuple, list)) or source == "":
            return source
        if isinstance(source, str):
            return self._translations[language].pgettext(path, source)
        return type(source)(self.translate(f"{path}.{i}", item) for i, item in enumerate(source))


class LocalisedMapping(Mapping[str, Any]):
    """A dict of texts whose items are read in the current language (keys stay as they are)."""

    def __init__(self, texts: Localised, path: str, source: Mapping[str, Any]) -> None:
        self._texts, self._path, self._source = texts, path, source

    def __getitem__(self, key: str) -> Any:
        return self._texts.translate(f"{self._path}.{key}", self._source[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __repr__(self) -> str:
        return f"<texts {self._path} in {_current.get()}>"
