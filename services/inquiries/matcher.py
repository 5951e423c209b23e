"""Chat text → the knowledge base's best answers: a verdict the bot acts on (confident, suggest, none).

How a text is scored against an entry (0-100; the higher of two scores):

- **characters**: rapidfuzz's ``fuzz.ratio`` (normalised Indel similarity) between the text and the entry's question,
  both folded (NFKC, lower case, traditional → simplified Chinese, letters and digits only). The entry's own question
  scores 100; a typo or two stays close.
- **words**: jieba cuts both (search mode, so 电子校友卡 also yields 校友卡 and 校友); question words and greetings
  (怎么, 如何, 请问, 你好, how, the ...) are dropped. Each word weighs its inverse document frequency over the
  knowledge base (校友卡 in every card entry weighs less than 挂失). ``precision`` is the share of the text's weight
  that the entry's question and keywords explain; ``recall`` the share of the question's weight the text covers, or
  half for each of the entry's keywords found in the text (staff's keywords are pointers: two found count as the whole
  question). The word score is their harmonic mean, so a one-word message ("卡") matches nothing confidently while
  "校友卡怎么办理" reaches "如何申请电子校友卡" through its keywords.

Only the ``CANDIDATES`` entries sharing the most word weight with the text are scored (an inverted index, read rarest
word first and for at most ``SCAN_LIMIT`` postings). ``rapidfuzz.process.extract`` over every question was
tried as a second source of candidates (for typos) and dropped: 0.2-0.3 ms per text for 2,000 entries, and a question
retyped with a typo still shares most of its words. A text is cut to ``MAX_TEXT_CHARS`` first. The entries' keywords
are added to jieba's dictionary so that 校友卡 stays one word.

**Once per process**: ``Index`` is immutable and built from the enabled entries; ``KnowledgeMatcher`` holds the current
one and, at most once per ``check_seconds``, compares the knowledge base's version in Redis (one GET) with the one it
loaded; only when it moved does one thread read the entries and build a new index (the others keep answering with the
old one meanwhile). Nothing reads the database per message when nothing changed. jieba's dictionary (the slow part:
~1.2 s from its cache file, ~2 s the first time on a machine) is loaded once per process, quietly, by the first
``tokenizer()`` call; ``warm_up`` does it ahead (call it at process start).

What the bot calls: ``verdict(session, client, settings, text) -> Verdict`` (and ``knowledge.record_hit`` after
answering with an entry); process start: ``preload`` (or ``warm_up``). The console's test box calls ``scores``.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import jieba
import redis
import zhconv
from rapidfuzz import fuzz
from sqlalchemy.orm import Session

from core.settings import InquirySettings
from services.inquiries import knowledge

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 200  # longer chat text is matched on its start: an FAQ question is never that long
SUGGEST_LIMIT = 3
CANDIDATES = 40  # entries scored in full per text, chosen by the weight of the words they share with it
SCAN_LIMIT = 1500  # postings read per text to choose them
WORDS_CACHE = 20_000
CHECK_SECONDS = 1.0
KEYWORD_RECALL = 0.5  # what one keyword of the entry found in the text counts for, as recall
CONFIDENT: Literal["confident"] = "confident"
SUGGEST: Literal["suggest"] = "suggest"
NONE: Literal["none"] = "none"
Kind = Literal["confident", "suggest", "none"]

_STOPWORDS_ZH = (
    "的 了 吗 呢 啊 吧 呀 么 嘛 哦 哈 嗯 是 在 我 我们 你 你们 您 他 她 它 请问 请 问 问下 问问 一下 下 "
    "怎么 怎么样 怎样 如何 什么 啥 哪里 哪儿 哪个 哪些 可以 可不可以 能 能否 能不能 会 要 想 想要 需要 "
    "有 有没有 没有 和 与 及 或 或者 还 也 就 都 好 你好 您好 谢谢 多谢 感谢 老师 麻烦 帮 帮忙 个 "
    "这 那 这个 那个 一个 怎么办 该 应该 为什么 为何"
)
_STOPWORDS_EN = (
    "a an the to do does did i my me we our you your is are am was be can could would should how what when where "
    "which who why of for in on at and or please hi hello thanks thank it with this that there any some get"
)
STOPWORDS = frozenset(_STOPWORDS_ZH.split()) | frozenset(_STOPWORDS_EN.split())


def _fold(text: str) -> str:
    """NFKC, lower case, traditional Chinese as simplified (alumni in Hong Kong, Taiwan and abroad write it)."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return zhconv.convert(folded, "zh-cn") if not folded.isascii() else folded


def _key(folded: str) -> str:
    """Letters and digits only: what the character score compares."""
    return "".join(ch for ch in folded if unicodedata.category(ch)[0] in "LN")


# --- jieba, once per process ------------------------------------------------------------------------------------------

_TOKENIZER: jieba.Tokenizer | None = None
_TOKENIZER_LOCK = threading.Lock()
_ADDED: set[str] = set()


def tokenizer() -> jieba.Tokenizer:
    """The process's jieba tokenizer, its dictionary loaded on the first call (quietly: jieba logs to stderr)."""
    global _TOKENIZER  # noqa: PLW0603 - the one tokenizer of the process
    current = _TOKENIZER
    if current is not None:
        return current
    with _TOKENIZER_LOCK:
        if _TOKENIZER is None:
            jieba.setLogLevel(logging.WARNING)
            started = time.perf_counter()
            made = jieba.Tokenizer()
            made.initialize()
            log.info("jieba dictionary loaded in %.2f s", time.perf_counter() - started)
            _TOKENIZER = made
        return _TOKENIZER


def warm_up() -> float:
    """Load jieba's dictionary now (at process start, not in the first push); returns the seconds it took."""
    started = time.perf_counter()
    tokenizer().lcut("校友会")
    return time.perf_counter() - started


def _add_words(words: Iterable[str]) -> None:
    """Make staff's keywords jieba words (校友卡, 成绩单): added once per process, under the lock (jieba's own
    ``add_word`` is not atomic; cutting in other threads only reads)."""
    fresh = [w for w in words if w not in _ADDED and 2 <= len(w) <= knowledge.KEYWORD_MAX_CHARS and not w.isascii()]
    if not fresh:
        return
    tok = tokenizer()
    with _TOKENIZER_LOCK:
        for word in fresh:
            if word not in _ADDED:
                tok.add_word(word)
                _ADDED.add(word)
        _words.cache_clear()


def words(folded: str) -> frozenset[str]:
    """The content words of a folded text (search mode: long words also give their shorter words)."""
    return _words(folded)


@functools.lru_cache(maxsize=WORDS_CACHE)
def _words(folded: str) -> frozenset[str]:
    # Cached: a rebuild after an edit cuts only the changed entries again, and chat repeats itself (你好, 在吗).
    # Keywords added to jieba later can change a cut; the cache is cleared then (``_add_words``).
    found = set()
    for cut in tokenizer().cut_for_search(folded, HMM=False):
        word = cut.strip()
        if word and word not in STOPWORDS and any(unicodedata.category(ch)[0] in "LN" for ch in word):
            found.add(word)
    return frozenset(found)


# --- the index: immutable, built from the enabled entries -------------------------------------------------------------


@dataclass(frozen=True)
class Scored:
    entry_id: int
    question: str
    answer: str
    category: str
    score: float  # 0-100


@dataclass(frozen=True)
class Verdict:
    """``confident``: ``entries`` holds the one answer to send; ``suggest``: up to three to offer by number (best
    first); ``none``: empty (the text opens an inquiry)."""

    kind: Kind
    entries: tuple[Scored, ...] = ()

    @property
    def best(self) -> Scored | None:
        return self.entries[0] if self.entries else None


@dataclass(frozen=True)
class _Entry:
    row: knowledge.Loaded
    key: str
    question_words: frozenset[str]
    all_words: frozenset[str]  # the question's and the keywords'
    phrases: tuple[str, ...]  # the keywords, as _key folds them
    question_weight: float


class Index:
    """The enabled entries, ready to score a text against. Built once per knowledge-base version; read-only after."""

    def __init__(self, rows: Sequence[knowledge.Loaded], *, version: int = 0) -> None:
        self.version = version
        phrases_of = [tuple(p for k in knowledge.split_keywords(r.keywords) if (p := _key(_fold(k)))) for r in rows]
        _add_words(p for phrases in phrases_of for p in phrases)
        parts = []
        for row, phrases in zip(rows, phrases_of, strict=True):
            folded = _fold(row.question)
            question_words = _words(folded)
            all_words = question_words.union(phrases, *(_words(p) for p in phrases))
            parts.append((row, _key(folded), question_words, all_words, phrases))
        postings: dict[str, list[int]] = {}
        for position, part in enumerate(parts):
            for word in part[3]:
                postings.setdefault(word, []).append(position)
        self.postings = {word: tuple(found) for word, found in postings.items()}
        total = max(len(parts), 1)
        self.weights = {word: math.log(1 + total / len(found)) for word, found in postings.items()}
        self.unknown_weight = math.log(1 + total)  # a word no entry has: it weighs like the rarest
        self.entries = tuple(_Entry(*part, question_weight=self._weight(part[2])) for part in parts)
        self.keys = [e.key for e in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def _weight(self, found: Iterable[str]) -> float:
        return sum(self.weights.get(word, self.unknown_weight) for word in found)

    def _candidates(self, query: frozenset[str]) -> set[int]:
        """The entries worth scoring: the ``CANDIDATES`` sharing the most weight of the text's rarer words. The words
        nominate rarest first, until ``SCAN_LIMIT`` postings were read (a common word like 校友 is in most entries:
        reading all of them per text would cost more than the scoring). A question retyped with a typo still shares
        most of its words."""
        shared: dict[int, float] = {}
        scanned = 0
        for word in sorted(query, key=lambda w: (len(self.postings.get(w, ())), w)):  # ties: by the word, not the hash
            found = self.postings.get(word, ())
            if scanned and scanned + len(found) > SCAN_LIMIT:
                break
            scanned += len(found)
            weight = self.weights.get(word, 0.0)
            for position in found:
                shared[position] = shared.get(position, 0.0) + weight
        if len(shared) <= CANDIDATES:
            return set(shared)
        return set(heapq.nlargest(CANDIDATES, shared, key=lambda position: (shared[position], -position)))

    def score_all(self, text: str, *, limit: int, floor: float = 0.0) -> list[Scored]:
        """The ``limit`` best entries for ``text`` scoring at least ``floor``, best first. Ties (two wordings of one
        topic both explain every word) go to the closer wording by characters, then to the lower id."""
        folded = _fold(text[:MAX_TEXT_CHARS])
        key = _key(folded)
        if not key or not self.entries:
            return []
        query = _words(folded)
        query_weight = self._weight(query)
        results = []
        for position in self._candidates(query):
            entry = self.entries[position]
            chars = fuzz.ratio(key, entry.key)
            score = max(chars, self._word_score(query, query_weight, key, entry))
            if score >= floor:
                results.append((score, chars, entry))
        results.sort(key=lambda found: (-found[0], -found[1], found[2].row.id))
        return [_scored(entry, score) for score, _chars, entry in results[:limit]]

    def _word_score(self, query: frozenset[str], query_weight: float, key: str, entry: _Entry) -> float:
        if query_weight <= 0:
            return 0.0
        precision = self._weight(query & entry.all_words) / query_weight
        recall = self._weight(query & entry.question_words) / entry.question_weight if entry.question_weight else 0.0
        found = sum(1 for phrase in entry.phrases if phrase in key)
        recall = max(recall, min(1.0, KEYWORD_RECALL * found))
        if precision <= 0 or recall <= 0:
            return 0.0
        return 100.0 * 2 * precision * recall / (precision + recall)

    def match(self, text: str, *, confident_score: float, suggest_score: float) -> Verdict:
        """The verdict for ``text``: confident (best ≥ confident_score), suggest (the best three ≥ suggest_score),
        or none."""
        best = self.score_all(text, limit=SUGGEST_LIMIT, floor=suggest_score)
        if not best:
            return Verdict(NONE)
        if best[0].score >= confident_score:
            return Verdict(CONFIDENT, (best[0],))
        return Verdict(SUGGEST, tuple(best))


def _scored(entry: _Entry, score: float) -> Scored:
    row = entry.row
    return Scored(row.id, row.question, row.answer, row.category, round(min(score, 100.0), 1))


# --- the process's matcher: reloaded when the knowledge base's version moves -----------------------------------------


class KnowledgeMatcher:
    """The current ``Index`` of one knowledge base (one database and Redis), checked against the version in Redis at
    most once per ``check_seconds``. Safe to share between threads: the index is swapped whole."""

    def __init__(self, *, check_seconds: float = CHECK_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.check_seconds = check_seconds
        self.clock = clock
        self._index: Index | None = None
        self._checked_at = -math.inf
        self._reload = threading.Lock()
        self.loads = 0  # how many times the entries were read (tests and the benchmark look)

    def index(self, session: Session, client: redis.Redis, *, fresh: bool = False) -> Index:
        """The current index: the loaded one while the version is unchanged (checked at most once a second, or now
        with ``fresh``), else a new one read through ``session``."""
        current = self._index
        now = self.clock()
        if current is not None and not fresh and now - self._checked_at < self.check_seconds:
            return current
        self._checked_at = now  # before the GET: the other threads keep using ``current`` meanwhile
        try:
            latest = knowledge.version(client)
        except redis.RedisError:
            log.warning("knowledge version unreadable; the loaded entries stay in use")
            if current is not None:
                return current
            latest = -1  # nothing loaded yet: load, and look again next time
        if current is not None and current.version == latest:
            return current
        # One thread reloads; while it does, the others answer with the old index (the first load waits).
        if not self._reload.acquire(blocking=current is None):
            return current  # type: ignore[return-value]  # current is not None: acquire only fails when not blocking
        try:
            if self._index is not None and self._index.version == latest:
                return self._index
            started = time.perf_counter()
            built = Index(knowledge.load_enabled(session), version=latest)
            self.loads += 1
            self._index = built
            log.info("knowledge base v%d loaded: %d entries in %.3f s", latest, len(built),
                     time.perf_counter() - started)  # fmt: skip
            return built
        finally:
            self._reload.release()

    def verdict(self, session: Session, client: redis.Redis, settings: InquirySettings, text: str) -> Verdict:
        return self.index(session, client).match(
            text, confident_score=settings.confident_score, suggest_score=settings.suggest_score
        )


_MATCHERS: dict[str, KnowledgeMatcher] = {}
_MATCHERS_LOCK = threading.Lock()


def matcher_for(session: Session) -> KnowledgeMatcher:
    """The process's matcher of the database ``session`` reads (one per database: tests and tools may hold two)."""
    name = session.get_bind().engine.url.render_as_string(hide_password=True)
    found = _MATCHERS.get(name)
    if found is None:
        with _MATCHERS_LOCK:
            found = _MATCHERS.setdefault(name, KnowledgeMatcher())
    return found


def verdict(session: Session, client: redis.Redis, settings: InquirySettings, text: str) -> Verdict:
    """What the bot calls for a chat text: confident (one entry to answer with), suggest (up to three, best first,
    with scores) or none. Reads the database only when the knowledge base changed since this process last looked."""
    return matcher_for(session).verdict(session, client, settings, text)


def preload(session: Session, client: redis.Redis) -> int:
    """Load jieba and this database's index now (at process start, so that no push pays for it); returns how many
    entries were loaded."""
    warm_up()
    return len(matcher_for(session).index(session, client, fresh=True))


def scores(session: Session, client: redis.Redis, text: str, *, limit: int = 5) -> list[Scored]:
    """The ``limit`` best entries for ``text`` with their scores, however low (the console's "test a question": it
    looks at the version now, so that staff see their own edit at once)."""
    return matcher_for(session).index(session, client, fresh=True).score_all(text, limit=limit)
