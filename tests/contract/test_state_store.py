"""One contract, every state store: the Redis store (production) and the memory store (unit tests) must agree."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from bot.state import ConversationState, MemoryStateStore, RedisStateStore, StateStore
from core.errors import Busy


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_url: str) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore(lock_wait=0.3)
        return
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield RedisStateStore(client, lock_timeout=5, lock_wait=0.3)
    client.close()


def state(step: str = "s1", ttl: float = 60, **data: object) -> ConversationState:
    return ConversationState("demo", step, dict(data), time.time() + ttl)


def test_get_of_unknown_user_is_none(store: StateStore) -> None:
    assert store.get("nobody") is None


def test_set_get_round_trip_keeps_data_and_unicode(store: StateStore) -> None:
    store.set("u1", state(name="张三", year=2008))
    got = store.get("u1")
    assert got is not None
    assert (got.conversation, got.step, got.data) == ("demo", "s1", {"name": "张三", "year": 2008})


def test_users_are_independent(store: StateStore) -> None:
    store.set("u1", state("a"))
    store.set("u2", state("b"))
    store.clear("u1")
    assert store.get("u1") is None
    assert store.get("u2").step == "b"  # type: ignore[union-attr]


def test_clear_is_idempotent(store: StateStore) -> None:
    store.clear("u1")
    store.set("u1", state())
    store.clear("u1")
    store.clear("u1")
    assert store.get("u1") is None


def test_an_expired_state_is_still_returned_so_the_user_can_be_told(store: StateStore) -> None:
    store.set("u1", state(ttl=-1))
    got = store.get("u1")
    assert got is not None and got.expired()


def test_lock_is_exclusive_per_user_and_released(store: StateStore) -> None:
    entered = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.lock("u1"):
            entered.set()
            release.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    assert entered.wait(5)
    with pytest.raises(Busy), store.lock("u1"):
        pass
    with store.lock("u2"):  # another user is not blocked
        pass
    release.set()
    t.join()
    with store.lock("u1"):
        pass


def test_lock_serialises_read_modify_write(store: StateStore) -> None:
    store.set("u1", state(count=0))

    def bump() -> None:
        for _ in range(10):
            while True:
                try:
                    with store.lock("u1"):
                        current = store.get("u1")
                        assert current is not None
                        store.set("u1", state(count=int(current.data["count"]) + 1))
                    break
                except Busy:
                    continue

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("u1").data["count"] == 40  # type: ignore[union-attr]


def test_only_the_token_holding_the_lock_releases_it(store: StateStore) -> None:
    store.acquire("u1", "first")
    store.release("u1", "someone-else")  # a holder whose lock passed on must not free the new holder's
    with pytest.raises(Busy):
        store.acquire("u1", "second")
    store.release("u1", "first")
    store.acquire("u1", "second")
    store.release("u1", "second")


def test_a_waiting_acquire_gets_the_lock_when_it_is_released(store: StateStore) -> None:
    store.acquire("u1", "first")
    got: list[str] = []

    def wait_then_hold() -> None:
        store.acquire("u1", "second")
        got.append("second")

    waiter = threading.Thread(target=wait_then_hold)
    waiter.start()
    time.sleep(0.05)
    assert got == []  # still waiting
    store.release("u1", "first")
    waiter.join(5)
    assert got == ["second"]
    store.release("u1", "second")
