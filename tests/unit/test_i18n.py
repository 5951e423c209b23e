"""core.i18n on a small module of copy and catalogues of its own: entries by path, the catalogue's update keeping
translations and flagging changed sources, the check, and reading each constant in the current language."""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType

import pytest

from core import i18n


def copy_module(**constants: object) -> ModuleType:
    module = ModuleType("copy_under_test")
    for name, value in constants.items():
        setattr(module, name, value)
    module.helper_not_copy = "小写的名字不是文案"  # type: ignore[attr-defined]
    return module


def translate(base: Path, module: ModuleType, english: dict[str, str]) -> None:
    """Update both catalogues from the module, then fill the English one by context."""
    entries = i18n.module_entries(module)
    i18n.update(entries, i18n.SOURCE, base)
    catalog = i18n.update(entries, "en", base)
    for message in catalog:
        if message.id and message.context in english:
            message.string = english[message.context]
            message.flags.discard("fuzzy")
    i18n.write_catalogue(catalog, "en", base)


MODULE = copy_module(
    WELCOME="欢迎，{name}！",
    CONSOLE={"save": "保存", "nested": {"title": "标题"}},
    HEADER=("行号", "说明"),
    LIMIT=30,
)
ENGLISH = {
    "WELCOME": "Welcome, {name}!",
    "CONSOLE.save": "Save",
    "CONSOLE.nested.title": "Title",
    "HEADER.0": "Row",
    "HEADER.1": "Message",
}


def test_entries_walk_strings_dicts_and_tuples_by_path() -> None:
    assert [(e.context, e.source) for e in i18n.module_entries(MODULE)] == [
        ("WELCOME", "欢迎，{name}！"),
        ("CONSOLE.save", "保存"),
        ("CONSOLE.nested.title", "标题"),
        ("HEADER.0", "行号"),
        ("HEADER.1", "说明"),
    ]


@pytest.mark.parametrize(
    ("tag", "language"),
    [
        *[("zh_CN", "zh_CN"), ("zh_TW", "zh_CN"), ("zh-Hans-CN", "zh_CN")],
        *[("en", "en"), ("en-GB", "en"), ("EN_us", "en")],
        *[("fr", None), ("", None), (None, None)],
    ],
)
def test_language_tags_from_wechat_browsers_and_people(tag: str | None, language: str | None) -> None:
    assert i18n.normalise(tag) == language


def test_each_constant_answers_in_the_current_language(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, ENGLISH)
    texts = i18n.Localised(MODULE, tmp_path)
    console = texts.value("CONSOLE")  # taken once, like `T = texts.CONSOLE` at import time
    assert texts.value("WELCOME").format(name="张伟") == "欢迎，张伟！"
    assert console["save"] == "保存" and texts.value("HEADER") == ("行号", "说明")
    with i18n.use("en-US"):
        assert texts.value("WELCOME").format(name="Zhang Wei") == "Welcome, Zhang Wei!"
        assert console["save"] == "Save" and console["nested"]["title"] == "Title"
        assert dict(console.items())["save"] == "Save" and list(console) == ["save", "nested"]
        assert texts.value("HEADER") == ("Row", "Message")
        assert texts.value("LIMIT") == 30  # not copy: unchanged
    assert console["save"] == "保存"  # the block ended: the source language again
    with pytest.raises(AttributeError, match="NOPE"):
        texts.value("NOPE")


def test_the_language_is_per_thread_of_work(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, ENGLISH)
    texts = i18n.Localised(MODULE, tmp_path)
    inside, outside = threading.Event(), threading.Event()
    seen: list[str] = []

    def english_reader() -> None:
        with i18n.use("en"):
            inside.set()
            outside.wait(5)
            seen.append(texts.value("CONSOLE")["save"])

    reader = threading.Thread(target=english_reader)
    reader.start()
    inside.wait(5)
    seen.append(texts.value("CONSOLE")["save"])  # this thread never chose English
    outside.set()
    reader.join(5)
    assert sorted(seen) == ["Save", "保存"]


def test_a_missing_translation_falls_back_to_the_source_and_the_check_names_it(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, {k: v for k, v in ENGLISH.items() if k != "CONSOLE.save"})
    texts = i18n.Localised(MODULE, tmp_path)
    with i18n.use("en"):
        assert texts.value("CONSOLE")["save"] == "保存"
    assert [str(p) for p in i18n.check(i18n.module_entries(MODULE), tmp_path)] == ["en CONSOLE.save: missing"]


def test_a_changed_source_keeps_its_old_translation_as_fuzzy_until_checked(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, ENGLISH)
    changed = copy_module(WELCOME="欢迎您，{name}！", CONSOLE=MODULE.CONSOLE, HEADER=MODULE.HEADER)
    entries = i18n.module_entries(changed)
    i18n.update(entries, i18n.SOURCE, tmp_path)
    catalog = i18n.update(entries, "en", tmp_path)
    carried = catalog.get("欢迎您，{name}！", context="WELCOME")
    assert carried is not None and carried.string == "Welcome, {name}!" and carried.previous_id == ["欢迎，{name}！"]
    assert [str(p) for p in i18n.check(entries, tmp_path)] == [
        "en WELCOME: fuzzy: the source changed since it was translated"
    ]
    with i18n.use("en"):  # a fuzzy translation is never shown
        assert i18n.Localised(changed, tmp_path).value("WELCOME") == "欢迎您，{name}！"


def test_a_translation_with_other_placeholders_fails_the_check(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, {**ENGLISH, "WELCOME": "Welcome, {user}!"})
    assert [str(p) for p in i18n.check(i18n.module_entries(MODULE), tmp_path)] == [
        "en WELCOME: placeholders differ: ['name'] != ['user']"
    ]


def test_keywords_are_read_in_every_language(tmp_path: Path) -> None:
    translate(tmp_path, MODULE, ENGLISH)
    texts = i18n.Localised(MODULE, tmp_path)
    assert i18n.in_each_language(lambda: texts.value("CONSOLE")["save"]) == ["保存", "Save"]
