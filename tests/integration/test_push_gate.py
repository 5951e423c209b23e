"""The webhook's two Redis scripts on a real Redis: the claim, the per-user lock, the state, the remembered answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from bot.dedupe import PENDING
from bot.gate import PushGate
from bot.state import ConversationState, StateStore
from core import redis_keys
from core.errors import Busy, CustomerServiceQuotaUsed, CustomerServiceWindowClosed
from core.settings import CustomerServiceWindow
from wechat.limits import CustomerServiceTracker


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def gate(client: redis.Redis) -> PushGate:
    return PushGate(client, claim_ttl=600, lock_timeout=5, lock_wait=0.3)


@pytest.fixture
def states(gate: PushGate) -> StateStore:
    return gate.states


def state(step: str = "s1", ttl: float = 60) -> ConversationState:
    return ConversationState("demo", step, {"n": 1}, time.time() + ttl)


def test_the_first_delivery_claims_locks_and_reads_the_state(gate: PushGate, states: StateStore) -> None:
    states.set("u1", state("waiting"))
    entry = gate.enter("msg:1", "u1")
    assert entry.claimed and entry.locked
    assert entry.state is not None and entry.state.step == "waiting"
    assert gate.dedupe.client.get(redis_keys.push("msg:1")) == PENDING
    assert gate.dedupe.client.get(redis_keys.user_lock("u1")) == entry.token


def test_a_user_without_state_reads_none(gate: PushGate) -> None:
    entry = gate.enter("msg:1", "u1")
    assert entry.claimed and entry.locked and entry.state is None


def test_a_retry_is_refused_before_any_lock_and_learns_what_was_answered(gate: PushGate, states: StateStore) -> None:
    first = gate.enter("msg:1", "u1")
    retry = gate.enter("msg:1", "u1")
    assert not retry.claimed and retry.remembered == PENDING
    assert gate.dedupe.client.get(redis_keys.user_lock("u1")) == first.token  # the retry took nothing
    gate.leave("msg:1", "u1", first.token, answer='{"text": "hi"}')
    assert gate.enter("msg:1", "u1").remembered == '{"text": "hi"}'
    gate.leave("msg:2", "u1", gate.enter("msg:2", "u1").token, answer="")
    assert gate.enter("msg:2", "u1").remembered == ""  # answered `success`


def test_the_claim_holds_while_the_lock_is_taken_and_the_state_is_not_read_without_it(
    gate: PushGate, states: StateStore
) -> None:
    states.set("u1", state())
    first = gate.enter("msg:1", "u1")
    second = gate.enter("msg:2", "u1")
    assert second.claimed and not second.locked and second.state is None
    assert not gate.enter("msg:2", "u1").claimed
    with pytest.raises(Busy):
        gate.lock("u1", second.token)  # lock_wait is 0.3 s and the first push still holds it
    gate.leave("msg:1", "u1", first.token, answer="", changed=True, state=state("next"))
    got = gate.lock("u1", second.token)
    assert got is not None and got.step == "next"  # the state as the first push left it


def test_a_waiting_push_gets_the_lock_when_the_holder_leaves(gate: PushGate) -> None:
    first = gate.enter("msg:1", "u1")
    second = gate.enter("msg:2", "u1")
    got: list[ConversationState | None] = []
    waiter = threading.Thread(target=lambda: got.append(gate.lock("u1", second.token)))
    waiter.start()
    gate.leave("msg:1", "u1", first.token, answer="", changed=True, state=state("after"))
    waiter.join(5)
    assert len(got) == 1 and got[0] is not None and got[0].step == "after"


def test_leave_writes_clears_or_keeps_the_state(gate: PushGate, states: StateStore) -> None:
    entry = gate.enter("msg:1", "u1")
    gate.leave("msg:1", "u1", entry.token, answer="", changed=True, state=state("a", ttl=100))
    assert states.get("u1").step == "a"  # type: ignore[union-attr]
    ttl = gate.dedupe.client.ttl(redis_keys.conversation("u1"))
    assert 100 + redis_keys.CONVERSATION_GRACE - 5 <= ttl <= 100 + redis_keys.CONVERSATION_GRACE
    entry = gate.enter("msg:2", "u1")
    gate.leave("msg:2", "u1", entry.token, answer="")  # unchanged
    assert states.get("u1").step == "a"  # type: ignore[union-attr]
    entry = gate.enter("msg:3", "u1")
    gate.leave("msg:3", "u1", entry.token, answer="", changed=True, state=None)
    assert states.get("u1") is None


def test_leave_opens_the_customer_service_window_the_tracker_reads(gate: PushGate, client: redis.Redis) -> None:
    tracker = CustomerServiceTracker(client, "wx_gate", CustomerServiceWindow(messages_per_user_message=2))
    entry = gate.enter("msg:1", "u1")
    gate.leave("msg:1", "u1", entry.token, answer="")  # no window given (a push that opens none): still closed
    with pytest.raises(CustomerServiceWindowClosed):
        tracker.take("u1")
    entry = gate.enter("msg:2", "u1")
    gate.leave("msg:2", "u1", entry.token, answer="", window=tracker.interaction("u1", "message"))
    tracker.take("u1")
    tracker.take("u1")  # the allowance the tracker itself would have given: two messages, then 45047
    with pytest.raises(CustomerServiceQuotaUsed):
        tracker.take("u1")
    assert client.ttl(tracker.key("u1")) > 48 * 3600
    assert client.get(redis_keys.user_lock("u1")) is None and client.get(redis_keys.push("msg:2")) == ""


def test_leave_releases_only_its_own_lock(gate: PushGate, states: StateStore) -> None:
    entry = gate.enter("msg:1", "u1")
    gate.dedupe.client.set(redis_keys.user_lock("u1"), "someone-else")  # ours expired and another push took it
    gate.leave("msg:1", "u1", entry.token, answer="")
    assert gate.dedupe.client.get(redis_keys.user_lock("u1")) == "someone-else"
    gate.dedupe.client.set(redis_keys.user_lock("u1"), entry.token)
    gate.leave("msg:1", "u1", entry.token, answer="")
    assert gate.dedupe.client.get(redis_keys.user_lock("u1")) is None


def test_keys_expire(gate: PushGate, states: StateStore) -> None:
    entry = gate.enter("msg:1", "u1")
    client = gate.dedupe.client
    assert 0 < client.ttl(redis_keys.push("msg:1")) <= 600
    assert 0 < client.pttl(redis_keys.user_lock("u1")) <= 5000
    gate.leave("msg:1", "u1", entry.token, answer="")
    assert 0 < client.ttl(redis_keys.push("msg:1")) <= 600


def test_the_scripts_survive_a_script_flush(gate: PushGate) -> None:
    gate.dedupe.client.script_flush()  # as after a Redis restart: EVALSHA fails and the script is loaded again
    entry = gate.enter("msg:1", "u1")
    gate.dedupe.client.script_flush()
    gate.leave("msg:1", "u1", entry.token, answer="x")
    assert gate.enter("msg:1", "u1").remembered == "x"


def test_the_scripts_and_the_slow_path_share_one_store(gate: PushGate, states: StateStore) -> None:
    """The gate builds its claim and its conversation store over one client: what the scripts write, the slow path
    (waiting for the lock, then reading the state) sees, and a lock the scripts hold keeps the slow path out."""
    entry = gate.enter("msg:1", "u1")
    with pytest.raises(Busy):
        states.acquire("u1", "another-push")  # the script's lock is the store's lock
    gate.leave("msg:1", "u1", entry.token, answer="", changed=True, state=state("written-by-script"))
    got = states.get("u1")
    assert got is not None and got.step == "written-by-script"
    states.acquire("u1", "another-push")
    assert not gate.enter("msg:2", "u1").locked  # and the store's lock is the script's lock
