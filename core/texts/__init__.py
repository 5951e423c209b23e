"""Every piece of user-facing copy, read in the language of the current unit of work (``core.i18n``).

The copy itself is written in Chinese in ``core/texts/zh.py``, the one module of copy: nothing else in the code base
writes a sentence a user reads. Its English lives in ``translations/en/LC_MESSAGES/messages.po`` (``make messages``
brings the catalogues in line after an edit; ``make test`` fails while a text has no translation). Code reads
``texts.NAME`` when it uses it, and gets it in the language the bot, the API or the console chose for the reader.
"""

from __future__ import annotations

from typing import Any

from core.i18n import Localised
from core.texts import zh

_texts = Localised(zh)


def __getattr__(name: str) -> Any:
    return _texts.value(name)


def __dir__() -> list[str]:
    return _texts.names()
