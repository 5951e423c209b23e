"""Filters decide whether a route matches a push. They compose with ``&``, ``|`` and ``~``.

Matching is kept apart from handling (python-telegram-bot's filters, aiogram's magic filters): a filter looks at
the push and the conversation state and never changes anything.

A filter knows its ``words``: the texts it matches whatever else holds (:func:`keyword`'s, kept through ``|``;
``&`` and ``~`` make a match conditional, so they keep none). The dispatcher gathers them from every route
(``bot.router.Dispatcher.keywords``: the keywords some route answers from anywhere) and the pipeline puts them on
the context, so a route that takes "any text" can step aside for a keyword (:func:`routed_keyword`) without a
second list of the words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.context import Context


class Filter:
    def __init__(self, test: Callable[[Context], bool], name: str, words: frozenset[str] = frozenset()) -> None:
        self._test = test
        self.name = name
        self.words = words  # texts (lower case) this filter matches whatever else holds

    def __call__(self, ctx: Context) -> bool:
        return self._test(ctx)

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda c: self(c) and other(c), f"({self.name} & {other.name})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda c: self(c) or other(c), f"({self.name} | {other.name})", self.words | other.words)

    def __invert__(self) -> Filter:
        return Filter(lambda c: not self(c), f"~{self.name}")

    def __repr__(self) -> str:
        return f"Filter({self.name})"


def _event(ctx: Context) -> str:
    return ctx.push.event


anything = Filter(lambda c: True, "anything")


def msg_type(*types: str) -> Filter:
    """Message types as WeChat names them: text, image, voice, video, location, link, event…"""
    wanted = {t.lower() for t in types}
    return Filter(lambda c: c.push.msg_type in wanted, f"msg_type{sorted(wanted)}")


def event(*events: str) -> Filter:
    """Events as wechatpy names them (lower case): subscribe, subscribe_scan, unsubscribe, click, location, scan…"""
    wanted = {e.lower() for e in events}
    return Filter(lambda c: _event(c) in wanted, f"event{sorted(wanted)}")


def menu_key(*keys: str) -> Filter:
    """A custom-menu click with one of these EventKeys."""
    wanted = set(keys)
    return Filter(lambda c: _event(c) == "click" and getattr(c.message, "key", None) in wanted, f"menu{sorted(wanted)}")


def qr_scene(prefix: str) -> Filter:
    """A scan of (or a follow through) a parametric QR code whose scene starts with ``prefix``."""

    def test(c: Context) -> bool:
        scene = getattr(c.message, "scene_id", None)
        return _event(c) in ("subscribe_scan", "scan") and str(scene or "").startswith(prefix)

    return Filter(test, f"qr_scene({prefix!r})")


def keyword(*words: str) -> Filter:
    """A text message that is exactly one of ``words`` (case- and space-insensitive)."""
    wanted = frozenset(w.strip().lower() for w in words)
    return Filter(lambda c: c.text.lower() in wanted, f"keyword{sorted(wanted)}", wanted)


def routed_keyword() -> Filter:
    """A text that is one of the keywords some route answers from anywhere (``Context.keywords``, the dispatcher's
    gathering of every route's ``words``): "帮助", "校友卡", "活动", ..."""
    return Filter(lambda c: bool(c.text) and c.text.lower() in c.keywords, "routed_keyword")


def regex(pattern: str, flags: int = 0) -> Filter:
    compiled = re.compile(pattern, flags)
    return Filter(lambda c: c.push.msg_type == "text" and compiled.search(c.text) is not None, f"regex({pattern!r})")


def in_conversation(conversation: str | None = None, step: str | None = None) -> Filter:
    """The user is in ``conversation`` (any, if None), at ``step`` (any, if None)."""

    def test(c: Context) -> bool:
        s = c.state
        return s is not None and conversation in (None, s.conversation) and step in (None, s.step)

    return Filter(test, f"in_conversation({conversation}, {step})")


def conversation_timed_out() -> Filter:
    return Filter(lambda c: c.timed_out is not None, "conversation_timed_out")
