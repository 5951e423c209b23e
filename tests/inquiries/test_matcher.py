"""The knowledge-base matcher: verdicts on real entries, its refresh by the Redis version (no database read per
message when nothing changed), threads, and text that is empty, emoji, huge or binary."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import event

from bench.inquiries_bench import chat_texts, knowledge_base
from core.db import Database
from core.settings import InquirySettings, Settings
from services.inquiries import knowledge, matcher
from services.inquiries.knowledge import Draft, Loaded

SETTINGS = InquirySettings()  # confident 82, suggest 60: the defaults of config.yaml

ENTRIES = [
    Loaded(1, "如何申请电子校友卡", "打开小程序申请。", "校友卡 电子校友卡 办卡 申请 办理", "card"),
    Loaded(2, "校友卡丢了怎么挂失", "在小程序挂失。", "挂失 丢失 补办", "card"),
    Loaded(3, "如何开具成绩单", "向档案馆申请。", "成绩单 档案 学历证明", "archive"),
    Loaded(4, "捐赠发票怎么开", "基金会开具。", "发票 捐赠 票据", "donation"),
    Loaded(5, "How do I get an alumni card?", "Apply in the mini program.", "alumni card, apply", "card"),
]


@pytest.fixture(scope="module")
def index() -> matcher.Index:
    return matcher.Index(ENTRIES, version=1)


def kind(index: matcher.Index, text: str) -> str:
    return index.match(text, confident_score=SETTINGS.confident_score, suggest_score=SETTINGS.suggest_score).kind


def test_the_question_itself_is_confident_and_names_its_entry(index: matcher.Index) -> None:
    found = index.match("如何申请电子校友卡", confident_score=82, suggest_score=60)
    assert found.kind == "confident" and found.best is not None
    assert (found.best.entry_id, found.best.score, found.best.answer) == (1, 100.0, "打开小程序申请。")
    assert kind(index, "您好，请问如何申请电子校友卡？谢谢") == "confident"  # greetings and punctuation around it
    assert kind(index, "如何申請電子校友卡") == "confident"  # traditional characters
    assert kind(index, "How do I get an ALUMNI card") == "confident"


def test_a_paraphrase_scores_above_a_miss(index: matcher.Index) -> None:
    paraphrase = index.score_all("校友卡怎么办理", limit=1)
    miss = index.score_all("今天天气怎么样", limit=1)
    assert paraphrase and paraphrase[0].entry_id == 1
    assert paraphrase[0].score >= SETTINGS.suggest_score
    assert not miss or miss[0].score < paraphrase[0].score - 30
    assert kind(index, "我的校友卡丢了") in ("confident", "suggest")
    assert index.score_all("我的校友卡丢了", limit=1)[0].entry_id == 2


def test_unrelated_text_is_none(index: matcher.Index) -> None:
    for text in ("今天天气怎么样", "哈哈哈", "在吗", "推荐一部电影", "what is the weather like", "好的"):
        assert kind(index, text) == "none", text


def test_one_vague_word_suggests_rather_than_answers(index: matcher.Index) -> None:
    found = index.match("校友卡", confident_score=82, suggest_score=60)
    assert found.kind == "suggest"
    assert found.best is not None and found.best.entry_id == 1 and len(found.entries) <= 3
    assert [s.entry_id for s in index.score_all("校友卡", limit=2)] == [1, 2]  # the lost-card entry comes next
    assert kind(index, "卡") == "none"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀😀", "👍🏻", "？？？！！！", "校" * 100_000, "如何申请电子校友卡" * 5000, "\x00\x01\x02\xff\xfe",
     "\ud800", "<xml>&amp;</xml>", "\u202e\u200b", "0" * 5000, "a\nb\tc"],
)  # fmt: skip
def test_odd_text_never_crashes(index: matcher.Index, text: str) -> None:
    found = index.match(text, confident_score=82, suggest_score=60)
    assert found.kind in ("confident", "suggest", "none")
    assert isinstance(index.score_all(text, limit=5), list)


def test_an_empty_knowledge_base_answers_none() -> None:
    assert matcher.Index([]).match("如何申请电子校友卡", confident_score=82, suggest_score=60).kind == "none"


def test_generated_knowledge_base_of_2000_entries_finds_questions_and_rejects_small_talk() -> None:
    entries = knowledge_base(2000)
    index = matcher.Index(entries)
    texts = chat_texts(entries, 600, seed=3)
    hits = [t for t in texts if t.kind == "hit"]
    found = [index.match(t.text, confident_score=82, suggest_score=60) for t in hits]
    # A generated base repeats each topic for eight audiences, so a few near-twins outscore the exact entry; the
    # asked entry is among the offered ones nearly always.
    offered = sum(1 for t, f in zip(hits, found, strict=True) if t.expected in {s.entry_id for s in f.entries}
                  or (f.kind != "none" and f.best is not None and f.best.score == 100.0))  # fmt: skip
    assert offered >= 0.75 * len(hits)
    misses = [t for t in texts if t.kind in ("miss", "long")]
    assert all(index.match(t.text, confident_score=82, suggest_score=60).kind == "none" for t in misses)


# --- refreshing: the process's matcher and the Redis version ---------------------------------------------------


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def rds(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.redis.url)
    yield client
    client.close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Statements:
    """Counts the SQL statements an engine runs."""

    def __init__(self, db: Database) -> None:
        self.count = 0
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


def add(db: Database, rds: redis.Redis, question: str, answer: str, keywords: str = "", category: str = "card") -> int:
    with db.session() as s:
        return knowledge.create(s, rds, Draft(question, answer, keywords, category), actor="staff:amy").id


def test_an_edit_reaches_a_process_matcher_through_the_version_without_a_read_per_message(
    db: Database, rds: redis.Redis
) -> None:
    card = add(db, rds, "如何申请电子校友卡", "旧的答案", "校友卡 办卡")
    clock = Clock()
    live = matcher.KnowledgeMatcher(check_seconds=1.0, clock=clock)  # another process's matcher, in effect
    statements = Statements(db)
    with db.session() as s:
        first = live.verdict(s, rds, SETTINGS, "如何申请电子校友卡")
        assert first.kind == "confident" and first.best is not None and first.best.answer == "旧的答案"
        assert live.loads == 1
        read = statements.count
        for _ in range(200):  # many pushes, and the clock moves: one Redis GET per second, no SQL
            clock.now += 0.1
            live.verdict(s, rds, SETTINGS, "如何申请电子校友卡")
        assert statements.count == read and live.loads == 1
    with db.session() as s:
        knowledge.edit(s, rds, card, Draft("如何申请电子校友卡", "新的答案", "校友卡 办卡", "card"), actor="staff:bob")
    with db.session() as s:
        clock.now += 0.5  # within the second since the last look: still the loaded index
        stale = live.verdict(s, rds, SETTINGS, "如何申请电子校友卡")
        assert stale.best is not None and stale.best.answer == "旧的答案"
        clock.now += 1.0
        fresh = live.verdict(s, rds, SETTINGS, "如何申请电子校友卡")
        assert fresh.best is not None and fresh.best.answer == "新的答案"
        assert live.loads == 2


def test_disabled_entries_never_match(db: Database, rds: redis.Redis) -> None:
    entry_id = add(db, rds, "如何开具成绩单", "向档案馆申请。", "成绩单")
    live = matcher.KnowledgeMatcher(check_seconds=0)
    with db.session() as s:
        assert live.verdict(s, rds, SETTINGS, "如何开具成绩单").kind == "confident"
        knowledge.set_enabled(s, rds, entry_id, False, actor="staff:amy")
    with db.session() as s:
        assert live.verdict(s, rds, SETTINGS, "如何开具成绩单").kind == "none"
        assert matcher.scores(s, rds, "如何开具成绩单") == []


def test_the_module_functions_share_one_matcher_per_database(db: Database, rds: redis.Redis) -> None:
    add(db, rds, "捐赠发票怎么开", "基金会开具。", "发票 捐赠")
    with db.session() as s:
        # The console's test box looks at the version at once (an earlier test's matcher of this database may have
        # looked less than a second ago); the bot's verdict then uses what it loaded.
        best = matcher.scores(s, rds, "发票", limit=5)
        assert best and best[0].question == "捐赠发票怎么开" and best[0].score < 82
        found = matcher.verdict(s, rds, SETTINGS, "捐赠发票怎么开？")
        assert found.kind == "confident" and matcher.matcher_for(s) is matcher.matcher_for(s)


def test_threads_share_a_matcher_while_it_reloads(db: Database, rds: redis.Redis) -> None:
    add(db, rds, "如何申请电子校友卡", "答案一", "校友卡")
    live = matcher.KnowledgeMatcher(check_seconds=0)
    errors: list[BaseException] = []
    kinds: list[str] = []

    def worker() -> None:
        try:
            with db.session() as s:
                for _ in range(30):
                    kinds.append(live.verdict(s, rds, SETTINGS, "如何申请电子校友卡").kind)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for i in range(5):
        add(db, rds, f"捐赠问题{i}", "答", "捐赠", "donation")
    for thread in threads:
        thread.join(30)
    assert not errors and set(kinds) == {"confident"} and len(kinds) == 180
    assert 1 <= live.loads <= 1 + 5 * 6


def test_an_unreachable_redis_keeps_the_loaded_entries(db: Database, rds: redis.Redis) -> None:
    add(db, rds, "如何申请电子校友卡", "答案", "校友卡")
    live = matcher.KnowledgeMatcher(check_seconds=0)
    with db.session() as s:
        assert live.verdict(s, rds, SETTINGS, "如何申请电子校友卡").kind == "confident"
        closed = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
        assert live.verdict(s, closed, SETTINGS, "如何申请电子校友卡").kind == "confident"
        assert live.loads == 1


def test_preload_builds_the_index_ahead_of_the_first_push(db: Database, rds: redis.Redis) -> None:
    add(db, rds, "如何申请电子校友卡", "答案", "校友卡")
    add(db, rds, "如何开具成绩单", "答案", "成绩单", "archive")
    with db.session() as s:
        assert matcher.preload(s, rds) == 2
        live = matcher.matcher_for(s)
        loads = live.loads
        assert matcher.verdict(s, rds, SETTINGS, "如何开具成绩单").kind == "confident" and live.loads == loads


def test_warm_up_loads_jieba_once() -> None:
    matcher.warm_up()
    assert matcher.warm_up() < 0.5 and matcher.tokenizer() is matcher.tokenizer()
