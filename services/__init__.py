"""Use cases: plain typed functions taking a Session. Every business rule lives here, and nowhere else.

Services import neither Flask nor WeChat XML types; they raise errors from ``core.errors``.
"""
