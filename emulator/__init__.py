"""A local stand-in for WeChat's servers, used by tests, ``make run`` and benchmarks.

It owns nothing of Xiaoyou's: it only plays the other side of the wire, following WeChat's documented behaviour.
"""
