"""Routers hold routes (a filter and a handler); the dispatcher tries routers in order and the first match wins.

The order is written once, in ``handlers/__init__.py``; this module knows nothing of the handlers themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.context import Context
from bot.filters import Filter
from bot.replies import Reply

Handler = Callable[[Context], Reply | None]


@dataclass(frozen=True)
class Route:
    name: str
    filter: Filter
    handler: Handler


class Router:
    def __init__(self, name: str) -> None:
        self.name = name
        self.routes: list[Route] = []

    def add(self, flt: Filter, handler: Handler, name: str | None = None) -> None:
        self.routes.append(Route(f"{self.name}.{name or handler.__name__}", flt, handler))

    def on(self, flt: Filter) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add`."""

        def register(handler: Handler) -> Handler:
            self.add(flt, handler)
            return handler

        return register

    def match(self, ctx: Context) -> Route | None:
        return next((route for route in self.routes if route.filter(ctx)), None)


class Dispatcher:
    """Routers in priority order; a push goes to the first route whose filter matches."""

    def __init__(self, routers: Sequence[Router]) -> None:
        names = [r.name for r in routers]
        if len(set(names)) != len(names):
            raise ValueError(f"router names must be unique: {names}")
        self.routers = list(routers)
        # The keywords some route answers from anywhere (its filter's ``words``: a plain keyword, or one or'ed with
        # a menu key; a keyword and'ed with a condition, e.g. a conversation's step, is not one).
        self.keywords: frozenset[str] = frozenset(
            word for router in self.routers for route in router.routes for word in route.filter.words
        )

    def resolve(self, ctx: Context) -> Route | None:
        for router in self.routers:
            route = router.match(ctx)
            if route is not None:
                return route
        return None
