"""Name forms for search and matching: simplified, traditional, full pinyin and initials, via zhconv and pypinyin.

A name is kept as the source wrote it; these derived forms are what search and duplicate detection compare, so
張偉, 张伟 and "zhangwei" meet. Non-Chinese names (international students) are lower-cased word by word.

Labels (a college, major or class: 計算機學院, 软件工程, 计算机2015级3班) are folded the same way into one key
(:func:`label_key`), stored beside the label (``EducationRecord.*_folded``) and compared by equality: traditional and
simplified, full- and half-width, upper and lower case, and spacing all meet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import zhconv

# Han characters, Latin letters, and the separators names legitimately contain (阿依古丽·买买提, O'Neil, Jean-Luc).
# zhconv's own lazy loader leaves its dictionary file open (a ResourceWarning); loading it by path closes it.
zhconv.loaddict(str(Path(zhconv.__file__).with_name("zhcdict.json")))

_NAME_OK = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaffA-Za-zÀ-ÿ·•.'\- ]+$")
_WORDS = re.compile(r"[A-Za-zÀ-ÿ0-9]+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
MAX_NAME = 64
MAX_LABEL = 64  # the length of the folded label columns


class NameForms(NamedTuple):
    name: str
    simplified: str
    traditional: str
    pinyin: str
    initials: str


def clean(raw: str) -> str:
    """NFKC (full-width letters to half-width), trimmed, inner whitespace collapsed, middle dots unified."""
    text = unicodedata.normalize("NFKC", raw).strip().replace("•", "·").replace("・", "·")
    return re.sub(r"\s+", " ", text)


def is_valid_name(name: str) -> bool:
    return bool(name) and len(name) <= MAX_NAME and bool(_NAME_OK.match(name))


def _latin_words(chunk: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(unicodedata.normalize("NFKD", chunk).encode("ascii", "ignore").decode())]


@lru_cache(maxsize=1 << 16)
def _syllable(char: str) -> str:
    """One Han character's pinyin. A person's name is read character by character (no phrase in it means more than
    its characters), so a small cache of characters serves every name. pypinyin is imported here, on the first
    name: its phrase dictionary is about 55 MB per process, and a webhook worker that never reads a name (most never
    do) should not carry it."""
    from pypinyin import lazy_pinyin

    return lazy_pinyin(char)[0].lower()


def _syllables(simplified: str) -> list[str]:
    out: list[str] = []
    latin: list[str] = []
    for char in simplified:
        if _HAN.match(char):
            if latin:
                out += _latin_words("".join(latin))
                latin = []
            out.append(_syllable(char))
        else:
            latin.append(char)
    if latin:
        out += _latin_words("".join(latin))
    return [s for s in out if s]


@lru_cache(maxsize=1 << 18)
def forms(name: str) -> NameForms:
    """The derived forms of a cleaned name (cached: rosters repeat names a lot)."""
    simplified = zhconv.convert(name, "zh-hans")
    traditional = zhconv.convert(name, "zh-hant")
    syllables = _syllables(simplified)
    key = simplified.replace(" ", "").replace("·", "") if _HAN.search(simplified) else simplified.lower()
    return NameForms(name, key, traditional, "".join(syllables), "".join(s[0] for s in syllables))


def search_key(query: str) -> str:
    """A query as the simplified key it should match."""
    return forms(clean(query)).simplified


@lru_cache(maxsize=1 << 16)
def is_simplified(text: str) -> bool:
    """Whether ``text`` is already in simplified Chinese (true for text with no Chinese in it)."""
    return zhconv.convert(text, "zh-hans") == text


def label_key(label: str | None) -> str | None:
    """A college, major or class label as the key it is stored and searched by: NFKC (full-width to half-width),
    simplified characters, lower case, no whitespace; None for nothing. Rosters repeat labels a lot (hence the
    cache), and the same function folds the stored label and the query, so they meet whichever way either is
    written."""
    if label is None:
        return None
    key = re.sub(r"\s+", "", zhconv.convert(clean(label), "zh-hans").lower())[:MAX_LABEL]
    return key or None
