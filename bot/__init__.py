"""The official-account webhook and its machinery: protocol, dedupe, state, filters, router, pipeline, replies.

It never imports ``handlers/``: the composition root hands the routers in.
"""
