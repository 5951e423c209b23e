"""``python -m bench.inquiries_bench`` (``make bench-inquiries``): the help desk's benchmark, one function per part.

Owns the help desk's benchmark run and the realistic knowledge base it measures with: :func:`knowledge_base` writes
plausible alumni-office questions and answers (card, verification, data update, donation, event, transcript and
archive, branch association, other; Chinese and some English), :func:`chat_texts` the chat messages alumni send
(the questions word for word, paraphrases with greetings and other wordings, and misses: small talk, other topics,
emoji, very long text).

Parts (``--parts``, comma-separated; each is a function ``part_NAME(args) -> Part`` and adds its own rows):

- ``matcher``: ``services.inquiries.matcher`` over ``--entries`` entries (2,000): the cold load in a fresh process
  (Python imports + jieba's dictionary, then the index built from the entries), and per-text timings of
  ``Index.match`` over ``--texts`` texts (20,000) against two references measured in the same run on the same texts:
  a plain dict lookup of the text's words (the cheapest keyword bot) and ``rapidfuzz.process.extractOne`` alone over
  every question. Target (issue 12): p99 per push <= 2 ms.

- ``webhook``: the real app (``wsgi:app``) under gunicorn as ``make bench-webhook`` runs it (``bench/servers.py``,
  ``bench/webhook.py``'s ``Runner``, ``bench/loadgen.py``) with the ``--entries`` knowledge base written through
  ``knowledge.create``, driven open loop at ``--rate`` (300/s) with signed, encrypted pushes: the load generator's
  own mix (帮助/help/菜单/？, subscribe, menu click) and the help desk's free text (:func:`desk_push`: FAQ questions
  word for word, paraphrases that get suggestions, questions that file an inquiry, follow-ups that join one,
  chatter), alternating, ``--webhook-rounds`` times each, in the same run. Every reply is checked: the load
  generator runs the same matcher on the same entries and expects the exact answer or suggestions (a filed or
  joined inquiry by its text with any number). On PostgreSQL (``--database-url``, env ``BENCH_DATABASE_URL``) and
  on SQLite with an embedded Redis (``--webhook-backends``). Then, to tell what a push's time goes to, the app in
  this process handles each kind one after another (CPU per push by kind) and again under ``cProfile``. That the
  workers preloaded the matcher (``wsgi.py`` → ``app.warm_up``) is checked from their log and from the first pushes'
  latency. Target (issue 12): p99 <= 50 ms at 300 pushes/s of free text.
- ``inbox``: ``--inquiries`` (1,000,000) inquiries with their events written with ``COPY`` (:func:`load_inquiries`:
  three years, channels, categories, priorities, ``--open`` of them open and assigned among ten officers or not,
  due by ``sla_hours``), then the inbox ``/admin/inquiries`` (each tab's first page and two later keyset pages)
  requested through the real app under gunicorn as an officer, next to a do-nothing Flask page (console_bench's
  ``measure``); the services behind it timed in-process and ``EXPLAIN ANALYZE`` of every statement they send
  (classes_bench's ``explain_calls``). Target (issue 12): p99 <= 100 ms.

The results go to the ``inquiries`` block of ``bench/RESULTS.md`` (``bench.report.write_block``). Exit status 0
when the run completed (whether or not the targets are met), 2 when it could not run.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bench import webhook
from bench.classes_bench import explain_calls
from bench.console_bench import Check, bench_app_settings, measure, official_account, privacy_keys, raw_connection
from bench.import_bench import DEFAULT_URL
from bench.loadgen import OA_USERNAME, Connection, PhaseSpec, prepare
from bench.report import Row, load_average, machine, revision, write_block
from bench.servers import (
    BENCH_SCHEMA,
    BenchError,
    Server,
    prepare_backend,
    server_env,
    start_server,
    stop_on_sigterm,
    wait_healthy,
    with_search_path,
)
from core import texts
from core.db import Database
from core.redis import start_embedded, stop_embedded
from core.settings import InquirySettings
from services import staff
from services.inquiries import desk, knowledge
from services.staff import sessions

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
WEBHOOK_P99_MS, INBOX_P99_MS = 50.0, 100.0  # issue 12's targets, reported, not gated
INTRO = """## Help desk (`make bench-inquiries`)

The knowledge-base matcher (jieba + rapidfuzz, `services/inquiries/matcher.py`) in process, per chat text, against
a plain keyword lookup and rapidfuzz alone measured in the same run; the webhook at 300 pushes/s of free text next to
the webhook bench's own push mix in the same run; the inbox at 1,000,000 inquiries next to a do-nothing Flask page.
Each run adds a section at the end of this block.
"""

# --- a realistic knowledge base ------------------------------------------------------------------------------------

# category → topics: (subject, verbs that ask for it, keywords, answer)
TOPICS: dict[str, list[tuple[str, tuple[str, ...], str, str]]] = {
    "card": [
        (
            "电子校友卡",
            ("申请", "办理", "领取"),
            "校友卡 电子校友卡 办卡 申请",
            "打开校友会小程序，进入「校友卡」提交申请，审核通过后即可出示。",
        ),
        (
            "实体校友卡",
            ("申请", "办理", "邮寄"),
            "实体卡 校友卡 邮寄",
            "实体卡每年 4 月和 10 月集中制作，制作后按登记地址邮寄。",
        ),
        (
            "校友卡",
            ("挂失", "补办", "注销"),
            "挂失 补办 丢失 校友卡",
            "在小程序「我的校友卡」中点击挂失，挂失后可重新申请。",
        ),
        (
            "校友卡二维码",
            ("刷新", "使用", "出示"),
            "二维码 扫码 校友卡",
            "二维码每分钟自动刷新，截图无效，请在小程序中出示。",
        ),
        (
            "终身校友卡",
            ("申请", "升级", "办理"),
            "终身卡 终身校友卡",
            "捐赠满一定金额的校友可申请终身卡，详见小程序说明。",
        ),
        (
            "校友卡权益",
            ("查询", "了解", "使用"),
            "权益 优惠 图书馆 入校",
            "校友卡可用于入校、图书馆阅览和合作商户优惠。",
        ),
    ],
    "verification": [
        (
            "校友身份",
            ("认证", "核验", "验证"),
            "认证 核验 身份 校友身份",
            "在小程序填写姓名、学号和身份证后四位即可自动核验。",
        ),
        ("学号", ("找回", "查询", "核对"), "学号 忘记学号", "可凭毕业年份、学院和班级核验，或联系校友办查询学号。"),
        (
            "核验结果",
            ("查询", "申诉", "查看"),
            "核验 审核 结果 人工审核",
            "自动核验未通过会转人工审核，一般 3 个工作日内答复。",
        ),
        (
            "留学生身份",
            ("认证", "核验", "登记"),
            "留学生 国际学生 护照",
            "国际校友请用护照号后四位核验，或上传学位证明。",
        ),
    ],
    "data_update": [
        ("手机号", ("修改", "更新", "变更"), "手机号 电话 联系方式", "在小程序「我的资料」中修改手机号，需短信验证。"),
        ("工作单位", ("更新", "修改", "填写"), "工作单位 职务 单位", "在小程序「我的资料」中更新工作单位和职务。"),
        (
            "通讯地址",
            ("修改", "更新", "登记"),
            "地址 通讯地址 邮寄地址",
            "在小程序中更新通讯地址，实体卡和刊物按新地址寄送。",
        ),
        ("姓名", ("更正", "修改", "变更"), "姓名 改名 曾用名", "姓名更正需提供户籍证明，请联系校友办人工办理。"),
        (
            "个人信息",
            ("删除", "导出", "查询"),
            "个人信息 隐私 删除 导出",
            "可在小程序提交个人信息查询、导出或删除申请。",
        ),
    ],
    "donation": [
        ("捐赠发票", ("开具", "申请", "领取"), "发票 捐赠票据 收据", "教育基金会在到账后 15 个工作日内开具捐赠票据。"),
        ("校友捐赠", ("参与", "办理", "了解"), "捐赠 捐款 基金会", "可通过教育基金会公众号在线捐赠，或银行转账。"),
        ("捐赠证书", ("领取", "补寄", "申请"), "证书 捐赠证书", "捐赠证书随票据一并寄出，未收到可联系基金会补寄。"),
        (
            "班级基金",
            ("设立", "捐赠", "管理"),
            "班级基金 冠名 基金",
            "设立班级基金请联系基金会项目部，起设金额另行约定。",
        ),
        ("税前扣除", ("办理", "申请", "咨询"), "税前扣除 抵税 个税", "凭捐赠票据可按规定申请个人所得税税前扣除。"),
    ],
    "event": [
        (
            "校庆活动",
            ("报名", "参加", "了解"),
            "校庆 报名 返校",
            "校庆活动报名在小程序「活动」页面，名额有限先到先得。",
        ),
        ("返校日", ("报名", "预约", "参加"), "返校 返校日 预约 入校", "返校日需提前三天在小程序预约入校。"),
        (
            "毕业十周年聚会",
            ("组织", "申请", "报名"),
            "聚会 十周年 班级聚会 场地",
            "班级聚会可向校友办申请场地和纪念品支持。",
        ),
        ("校友讲座", ("报名", "观看", "回看"), "讲座 论坛 直播 回放", "讲座直播和回放在校友会视频号发布。"),
        ("活动场地", ("预约", "申请", "借用"), "场地 会议室 预约", "校友活动中心可预约，请提前一周提交申请。"),
    ],
    "archive": [
        ("成绩单", ("开具", "办理", "邮寄"), "成绩单 中英文成绩单 出国", "成绩单由教务处档案室开具，可线上申请邮寄。"),
        (
            "学历证明",
            ("开具", "办理", "认证"),
            "学历证明 学位证明 学信网",
            "学历证明可在学信网查询，纸质证明由档案馆开具。",
        ),
        ("毕业证", ("补办", "遗失", "证明"), "毕业证 学位证 遗失 补办", "毕业证遗失不能补发，可开具毕业证明书。"),
        ("人事档案", ("查询", "转递", "调取"), "档案 人事档案 转档", "毕业生档案去向可在就业指导中心查询。"),
        ("在校期间照片", ("查找", "申请", "获取"), "毕业照 照片 档案馆", "毕业合影可向档案馆申请电子版。"),
    ],
    "branch": [
        (
            "地方校友会",
            ("加入", "联系", "查询"),
            "地方校友会 分会 城市",
            "在公众号发送所在城市，即可获取当地校友会联系方式。",
        ),
        ("海外校友会", ("加入", "成立", "联系"), "海外 海外校友会 国外", "海外校友会名录见官网「校友组织」栏目。"),
        (
            "行业校友会",
            ("加入", "成立", "申请"),
            "行业校友会 行业分会",
            "成立行业校友会需 30 名以上校友发起，报校友总会审批。",
        ),
        ("校友会年检", ("办理", "提交", "了解"), "年检 年度报告 分会", "各地校友会每年 3 月提交年度工作报告。"),
    ],
    "other": [
        ("校友邮箱", ("申请", "开通", "找回"), "邮箱 校友邮箱 密码", "校友邮箱在信息中心网站申请，凭校友卡号开通。"),
        ("入校", ("预约", "申请", "登记"), "入校 进校 门禁 预约", "校友凭校友卡刷码入校，外来车辆需提前预约。"),
        ("校友刊物", ("订阅", "领取", "投稿"), "校友刊物 杂志 投稿", "《校友》杂志每季度出版，可在小程序订阅电子版。"),
        ("招聘信息", ("发布", "查询", "投递"), "招聘 实习 就业", "校友企业招聘信息可通过就业指导中心发布。"),
        (
            "校友办",
            ("联系", "拜访", "咨询"),
            "校友办 电话 地址 办公时间",
            "校友办位于行政楼 203，工作日 8:30-17:30 办公。",
        ),
    ],
}
ENGLISH = [
    ("How do I apply for an alumni card?", "alumni card, apply", "card", "Open the mini program and apply under Card."),
    ("How can I verify my alumni identity?", "verify, identity", "verification", "Use your name and student number."),
    ("How do I request an official transcript?", "transcript", "archive", "Apply online at the archives office."),
    ("How can I make a donation to the university?", "donation, donate", "donation", "Give online via the foundation."),
    ("How do I find my local alumni chapter?", "chapter, branch", "branch", "Send your city name to the account."),
    ("How can I update my contact details?", "update, contact", "data_update", "Edit them in the mini program."),
    ("When is the homecoming event?", "homecoming, event", "event", "Homecoming is in the last week of May."),
]
TEMPLATES = ("如何{v}{s}", "{s}怎么{v}", "{s}在哪里{v}", "{v}{s}需要什么材料", "{v}{s}要多久", "{s}可以代{v}吗",
             "{v}{s}收费吗", "{s}{v}的流程是什么", "海外校友怎么{v}{s}", "{v}{s}需要本人到场吗")  # fmt: skip
# Who asks: the knowledge base repeats its topics for cohorts, campuses and degrees (as a real one grows: "本科生",
# "研究生" versions of one answer), which is what makes 2,000 entries.
AUDIENCES = ("", "本科校友", "研究生校友", "继续教育校友", "留学生校友", "南校区校友", "医学院校友", "退休教职工")
GREETINGS = ("", "你好，", "老师好，", "您好，请问", "请问一下，", "打扰了，", "hi，")
ENDINGS = ("", "？", "?", "，谢谢", "。谢谢老师", "呢", "啊")
PARAPHRASE = ("我想{v}{s}", "{s}{v}", "{s}怎么弄", "{v}{s}去哪", "想问下{s}的事", "{s}咋{v}", "关于{s}{v}")
MISSES = ("今天食堂有什么好吃的", "哈哈哈", "在吗", "明天会下雨吗", "我的快递到哪了", "股票怎么买", "推荐一部电影",
          "你是机器人吗", "好的", "收到", "谢谢", "早上好", "周末去哪玩", "我要投诉外卖", "学校排名多少",
          "😀😀😀", "👍", "......", "1", "ok", "what's the weather like", "asdfghjkl")  # fmt: skip


def knowledge_base(n: int, seed: int = 12) -> list[knowledge.Loaded]:
    """``n`` distinct entries: every (topic, verb, template) in turn, then the same for each audience, plus the
    English ones."""
    rng = random.Random(seed)
    rows: list[knowledge.Loaded] = []
    seen: set[str] = set()
    for i, (question, keywords, category, answer) in enumerate(ENGLISH, start=1):
        rows.append(knowledge.Loaded(i, question, answer, keywords, category))
        seen.add(question)
    for audience in AUDIENCES:
        for template in TEMPLATES:
            for category, topics in TOPICS.items():
                for subject, verbs, keywords, answer in topics:
                    verb = verbs[len(rows) % len(verbs)]
                    question = (f"{audience}" if audience else "") + template.format(s=subject, v=verb)
                    if question in seen:
                        continue
                    seen.add(question)
                    extra = rng.choice(verbs)
                    rows.append(knowledge.Loaded(len(rows) + 1, question, answer, f"{keywords} {extra}", category))
                    if len(rows) >= n:
                        return rows
    raise ValueError(f"the generator makes at most {len(rows)} entries")


@dataclass(frozen=True)
class ChatText:
    kind: str  # hit, paraphrase, miss, long
    text: str
    expected: int | None  # the entry a hit is the question of


def chat_texts(entries: list[knowledge.Loaded], n: int, seed: int = 7) -> list[ChatText]:
    """``n`` chat texts: 40 % a question word for word (with greetings), 40 % paraphrases, 17 % misses, 3 % long."""
    rng = random.Random(seed)
    subjects = [(s, verbs) for topics in TOPICS.values() for s, verbs, _k, _a in topics]
    out: list[ChatText] = []
    for _ in range(n):
        draw = rng.random()
        if draw < 0.4:
            entry = rng.choice(entries)
            out.append(ChatText("hit", rng.choice(GREETINGS) + entry.question + rng.choice(ENDINGS), entry.id))
        elif draw < 0.8:
            subject, verbs = rng.choice(subjects)
            text = rng.choice(PARAPHRASE).format(s=subject, v=rng.choice(verbs))
            out.append(ChatText("paraphrase", rng.choice(GREETINGS) + text + rng.choice(ENDINGS), None))
        elif draw < 0.97:
            out.append(ChatText("miss", rng.choice(MISSES), None))
        else:
            words = [rng.choice(MISSES) for _ in range(rng.randint(30, 200))]
            out.append(ChatText("long", "，".join(words), None))
    return out


# --- the parts -------------------------------------------------------------------------------------------------------


@dataclass
class Part:
    rows: list[str] = field(default_factory=list)  # markdown table rows: | what | n | p50 | p90 | p99 | max |
    lines: list[str] = field(default_factory=list)  # facts under the table


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def row(name: str, ms: list[float]) -> str:
    return (
        f"| {name} | {len(ms):,} | {statistics.median(ms):.3f} | {pct(ms, 90):.3f} | {pct(ms, 99):.3f} "
        f"| {max(ms):.3f} |"
    )


def timed(texts: list[ChatText], fn: Callable[[str], object], *, cpu: bool = False) -> list[float]:
    """Milliseconds per text: wall clock, or with ``cpu`` this thread's CPU time (on a shared machine the wall
    clock's tail is mostly waiting for a core: the CPU time shows what the code itself costs)."""
    ms = []
    clock = time.thread_time if cpu else time.perf_counter
    for item in texts:
        started = clock()
        fn(item.text)
        ms.append((clock() - started) * 1000)
    return ms


COLD = """
import time
started = time.perf_counter()
from services.inquiries import matcher
imported = time.perf_counter()
matcher.warm_up()
print(imported - started, time.perf_counter() - imported)
"""


def cold_load() -> tuple[float, float]:
    """In a fresh interpreter: the imports (jieba, rapidfuzz, the app's modules), then jieba's dictionary."""
    done = subprocess.run([sys.executable, "-c", COLD], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parent.parent)  # fmt: skip
    imports, dictionary = (float(x) for x in done.stdout.split())
    return imports, dictionary


def part_matcher(args: argparse.Namespace) -> Part:
    from rapidfuzz import fuzz, process

    from services.inquiries import matcher

    part = Part()
    imports_s, dictionary_s = cold_load()
    entries = knowledge_base(args.entries)
    started = time.perf_counter()
    matcher.warm_up()
    warm_s = time.perf_counter() - started
    started = time.perf_counter()
    index = matcher.Index(entries, version=1)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    matcher.Index(entries, version=2)  # again: the reload a knowledge-base edit costs (keywords already words)
    rebuild_s = time.perf_counter() - started
    texts = chat_texts(entries, args.texts, seed=args.seed)

    def match(text: str) -> object:
        return index.match(text, confident_score=args.confident, suggest_score=args.suggest)

    # The references: a dict from each keyword to its entries (a text's words looked up), and rapidfuzz alone.
    by_word: dict[str, list[int]] = {}
    for entry in entries:
        for word in knowledge.split_keywords(entry.keywords):
            by_word.setdefault(word.lower(), []).append(entry.id)
    questions = [e.question for e in entries]

    def dict_lookup(text: str) -> object:
        found: dict[int, int] = {}
        for word, entry_ids in by_word.items():
            if word in text:
                for entry_id in entry_ids:
                    found[entry_id] = found.get(entry_id, 0) + 1
        return max(found.items(), key=lambda kv: kv[1]) if found else None

    def fuzz_alone(text: str) -> object:
        return process.extractOne(text[: matcher.MAX_TEXT_CHARS], questions, scorer=fuzz.WRatio, score_cutoff=60)

    timed(texts[:500], match)  # warm the caches and branch predictors of all three alike
    timed(texts[:500], dict_lookup)
    timed(texts[:500], fuzz_alone)
    ms = {"matcher": timed(texts, match), "dict": timed(texts, dict_lookup), "fuzz": timed(texts, fuzz_alone)}
    cpu = {"matcher": timed(texts, match, cpu=True), "dict": timed(texts, dict_lookup, cpu=True)}
    by_kind: dict[str, list[float]] = {}
    for item, value in zip(texts, ms["matcher"], strict=True):
        by_kind.setdefault(item.kind, []).append(value)
    part.rows += [
        row(f"matcher `Index.match`, all {len(texts):,} texts", ms["matcher"]),
        *(row(f"matcher, {kind} texts only", values) for kind, values in sorted(by_kind.items())),
        row("reference: dict keyword lookup (every keyword `in` the text)", ms["dict"]),
        row("reference: rapidfuzz alone (`process.extractOne`, WRatio, every question)", ms["fuzz"]),
        row("matcher, all texts, CPU time of the thread (not wall clock)", cpu["matcher"]),
        row("reference: dict keyword lookup, CPU time of the thread", cpu["dict"]),
    ]
    verdicts = [index.match(t.text, confident_score=args.confident, suggest_score=args.suggest) for t in texts]
    hits = [(t, v) for t, v in zip(texts, verdicts, strict=True) if t.kind == "hit"]
    right = sum(1 for t, v in hits if v.kind == "confident" and v.best is not None and v.best.entry_id == t.expected)
    kinds: dict[str, dict[str, int]] = {}
    for t, v in zip(texts, verdicts, strict=True):
        counts = kinds.setdefault(t.kind, {})
        counts[v.kind] = counts.get(v.kind, 0) + 1
    part.lines += [
        f"cold start of a process: imports {imports_s * 1000:.0f} ms, then jieba's dictionary {dictionary_s:.2f} s "
        f"(from its cache file in the temp dir; the first load on a machine builds that cache, ~2 s); in this process "
        f"`warm_up()` (the dictionary load) took {warm_s * 1000:.0f} ms",
        f"index of {len(entries):,} entries built in {build_s * 1000:.0f} ms (first: the entries' keywords are added "
        f"to jieba's dictionary), {rebuild_s * 1000:.0f} ms when rebuilt after an edit; the version check is one "
        "Redis GET at most once a second per process",
        f"verdicts by kind of text: {kinds}; questions word for word answered with their own entry: "
        f"{right:,} of {len(hits):,}",
    ]
    return part


# --- the webhook: free text at a fixed rate ---------------------------------------------------------------------------

# Of every 20 pushes of a load-generator process: 8 questions word for word (with greetings), 6 paraphrases, 3 questions
# the knowledge base does not cover (each files an inquiry), 2 follow-ups (the asker of one of those 3 adds to it
# ``FOLLOW_GAP`` pushes later, about two seconds at 300/s over two processes: within the follow-up window, and well
# after the inquiry was filed), 1 chatter ("在吗", "👍", "1": filed when long enough, else the bot's fallback).
DESK_SLOTS = ("hit",) * 8 + ("paraphrase",) * 6 + ("miss",) * 3 + ("follow_up",) * 2 + ("chatter",)
FOLLOW_GAP = 300  # a multiple of len(DESK_SLOTS): slot 17 follows slot 14 (and 18 follows 15) of an earlier round
OFFICE_MISSES = (
    "校医院周末开门吗，我想带孩子去看看", "可以带家属参观校史馆吗", "学校的游泳馆对校友开放吗",
    "毕业生户口迁移去哪里办理",
    "请问学校附近哪家酒店有校友优惠", "我想给母校捐一批旧书，不要发票，直接寄到哪里", "食堂的饭卡还能充值吗",
    "我想找大学时的辅导员王老师，有联系方式吗", "学校体育馆晚上几点关门", "能不能帮我查一下我爸爸当年的入学登记表",
    "孩子想报考母校，招生咨询电话是多少", "我的快递到哪了", "今天食堂有什么好吃的", "推荐一部电影", "我要投诉外卖",
    "What time does the campus gym close on Sundays?", "学校排名多少", "股票怎么买",
)  # fmt: skip
CHATTER = ("在吗", "哈哈哈", "好的", "收到", "👍", "1", "ok", "😀😀😀", "......", "早上好")
FOLLOW_UPS = ("补充一下：我是2012届经管学院的", "另外我的手机号已经换了，请用这个号码联系我", "麻烦尽快回复，谢谢",
              "我昨天打电话没人接，所以在这里留言", "附上我的学号 2012011234")  # fmt: skip


def _pattern(template: str) -> str:
    """A regular expression for any text ``template.format(...)`` makes: numbers for the counts, any text else."""
    parts = re.split(r"\{(\w+)\}", template)
    return "".join(re.escape(p) if i % 2 == 0 else (r"\d+" if p != "answer" else ".+") for i, p in enumerate(parts))


def _reply_to(verdict: Any, text: str) -> str | re.Pattern[str]:
    """The reply ``handlers/desk.py`` gives a fresh user's ``text`` with this matcher verdict."""
    best = verdict.best
    if verdict.kind == "confident" and best is not None:
        return texts.DESK_FAQ_ANSWER.format(answer=best.answer)
    if verdict.kind == "suggest":
        choices = "\n".join(f"{n}. {e.question}" for n, e in enumerate(verdict.entries, 1))
        return texts.DESK_FAQ_SUGGEST.format(choices=choices)
    filed = f"{_pattern(texts.DESK_FILED)}|{_pattern(texts.DESK_FILED_TRUNCATED)}"
    if len(text.strip()) < 2:  # desk.MIN_CHARS: not a question for the office
        return re.compile(re.escape(texts.FALLBACK), re.S)
    return re.compile(filed, re.S)


@functools.cache
def _desk_pools(entries: int) -> dict[str, list[tuple[str, str | re.Pattern[str]]]]:
    """Per kind, texts and the reply each must get: the matcher run here on the same knowledge base (a generator
    process builds it once, before the clock starts)."""
    from services.inquiries import matcher

    settings = InquirySettings()
    kb = as_stored(knowledge_base(entries))
    index = matcher.Index(kb, version=1)

    def reply(text: str) -> str | re.Pattern[str]:
        verdict = index.match(text, confident_score=settings.confident_score, suggest_score=settings.suggest_score)
        return _reply_to(verdict, text)

    pools: dict[str, list[tuple[str, str | re.Pattern[str]]]] = {"hit": [], "paraphrase": [], "miss": [], "chatter": []}
    for item in chat_texts(kb, 4000, seed=entries):
        if item.kind in ("hit", "paraphrase"):
            pools[item.kind].append((item.text, reply(item.text)))
    for text in OFFICE_MISSES:
        expected = reply(text)
        if isinstance(expected, re.Pattern) and len(text.strip()) >= 2:
            pools["miss"].append((text, expected))  # filed: a follow-up joins it
    # "在吗" is one of the help handler's keywords (handlers/help.py): it answers, not the desk.
    pools["chatter"] = [(text, texts.HELP if text == "在吗" else reply(text)) for text in CHATTER]
    return pools


def desk_push(
    entries: str, *, seed: int, worker: int, index: int, expect: str
) -> tuple[dict[str, object], str | re.Pattern[str]]:
    """Push ``index`` of one generator process (``bench.loadgen``'s ``PhaseSpec.mix``) and the reply it must get."""
    pools = _desk_pools(int(entries))
    kind = DESK_SLOTS[index % len(DESK_SLOTS)]
    asker = index
    if kind == "follow_up":
        asker = index - FOLLOW_GAP - 3  # slot 14 or 15 of an earlier round: a question that filed an inquiry
        if asker < 0:
            kind = "miss"
    fields: dict[str, object] = {
        "ToUserName": OA_USERNAME, "CreateTime": int(time.time()), "FromUserName": f"o_desk_{seed:x}_{asker}",
        "MsgType": "text", "MsgId": (seed << 32) | index,
    }  # fmt: skip
    if kind == "follow_up":
        fields["Content"] = FOLLOW_UPS[index % len(FOLLOW_UPS)]
        return fields, re.compile(_pattern(texts.DESK_FOLLOW_UP_JOINED))
    pool = pools[kind]
    text, expected = pool[(index * 7919 + seed) % len(pool)]
    fields["Content"] = text
    return fields, expected


def as_stored(entries: list[knowledge.Loaded]) -> list[knowledge.Loaded]:
    """The entries as ``knowledge.create`` stores them (keywords split and each kept once): what the app's matcher
    loads, so the generator's copy of the matcher gives the verdicts the app gives."""
    out = []
    for entry in entries:
        clean, problems = knowledge.validate(
            knowledge.Draft(entry.question, entry.answer, entry.keywords, entry.category)
        )
        if clean is None:
            raise BenchError(f"generated entry {entry.id} refused: {problems}")
        out.append(knowledge.Loaded(entry.id, clean.question, clean.answer, clean.keywords, clean.category))
    return out


def load_knowledge(database_url: str, redis_url: str, entries: list[knowledge.Loaded]) -> float:
    """The knowledge base written through ``knowledge.create`` (as the console does), checked read back as the
    generator's copy; returns the seconds it took."""
    db = Database(database_url)
    client = redis.Redis.from_url(redis_url)
    started = time.perf_counter()
    try:
        with db.session() as session:
            for entry in entries:
                draft = knowledge.Draft(entry.question, entry.answer, entry.keywords, entry.category)
                knowledge.create(session, client, draft, actor="bench")
        with db.session() as session:
            stored = knowledge.load_enabled(session)
    finally:
        client.close()
        db.dispose()
    if stored != as_stored(entries):
        raise BenchError("the knowledge base read back differs from the generated one (normalised on the way in?)")
    return time.perf_counter() - started


def _first_pushes(server: Server, account: Any, entries: int, n: int) -> list[float]:
    """``n`` free-text pushes right after the server came up, each on a new connection (so both workers get some),
    ms each: a worker that had not loaded jieba would take a second or more on its first."""
    spec = PhaseSpec(target="first", expect="bot", host="127.0.0.1", port=server.port, account=account, mode="open",
                     duration=1, processes=1, connections=1, seed_base=secrets.randbelow(2**27),
                     mix=("bench.inquiries_bench:desk_push", str(entries)))  # fmt: skip
    out = []
    for i in range(n):
        prepared = prepare(spec, 0, i)
        conn = Connection("127.0.0.1", server.port)
        try:
            started = time.perf_counter()
            status, _body = conn.exchange(prepared.request)
            out.append((time.perf_counter() - started) * 1000)
        finally:
            conn.close()
        if status != 200:
            raise BenchError(f"a first push answered HTTP {status}")
    return out


def _webhook_on(args: argparse.Namespace, database_url: str, redis_url: str, part: Part) -> None:
    """One backend: the app with the knowledge base under gunicorn, the load generator's own mix and the help desk's
    free text, each at the same fixed rate, alternating, after an unmeasured warm-up."""

    account = webhook._bench_account()
    desk_mix = ("bench.inquiries_bench:desk_push", str(args.entries))
    load = argparse.Namespace(rate=args.rate, loadgen_processes=2, connections=16, open_connections=32)
    server = None
    with tempfile.TemporaryDirectory(prefix="xiaoyou-inquiries-bench-") as tmp:
        work = Path(tmp)
        try:
            if database_url and not redis_url:
                redis_url = start_embedded(work / "redis")
            backend = prepare_backend(work, database_url, redis_url, account)
            name = "PostgreSQL" if database_url else "SQLite"
            loaded_s = load_knowledge(backend.database_url, backend.redis_url, knowledge_base(args.entries))
            print(f"webhook on {backend.label}: {args.entries} entries loaded in {loaded_s:.1f} s", flush=True)
            env = server_env(work, backend, account, work / "prometheus")
            server = start_server("xiaoyou", "wsgi:app", work, env, args.workers, args.threads)
            wait_healthy(server)
            runner = webhook.Runner(load, account, work, seed_base=secrets.randbelow(2**27))
            first = _first_pushes(server, account, args.entries, 8)
            runner.requests += len(first)  # in the inbound log too
            runner.answered += len(first)
            runner.mix = desk_mix
            runner.phase(server, "bot", "open", args.webhook_warmup, label="warm-up (free text)")
            rows: dict[str, list[Row]] = {"own": [], "desk": []}
            for _round in range(args.webhook_rounds):
                for mix_name, mix in (("own", ()), ("desk", desk_mix)):
                    runner.mix = mix
                    rows[mix_name].append(runner.phase(server, "bot", "open", args.webhook_duration,
                                                       label=f"{args.rate:g}/s, {mix_name} mix"))  # fmt: skip
            server.stop()
            # Read at the end: a worker still loading (a few seconds on a busy machine) takes no connection yet.
            ready = [line for line in server.log_path.read_text(errors="replace").splitlines()
                     if "knowledge-base matcher ready" in line]  # fmt: skip
            runner.check_database(backend, server.name)
            profile_lines = in_process(backend.database_url, backend.redis_url, account, args.entries, work,
                                       args.profile_pushes)  # fmt: skip
        finally:
            if server is not None:
                server.stop()
            stop_embedded()
    labels = {"own": "the webhook bench's own mix (帮助/help/菜单/？, subscribe, menu click)",
              "desk": "free text (FAQ hits, paraphrases, misses filed, follow-ups)"}  # fmt: skip
    for mix_name, measured in rows.items():
        ms = [s * 1000 for r in measured for s in r.result.latencies]
        errors = sum(r.result.errors for r in measured)
        rate = statistics.mean(r.result.throughput for r in measured)
        part.rows.append(row(f"webhook {name}, {args.rate:g}/s, {labels[mix_name]}: per push, {errors} errors", ms))
        cpu = statistics.mean(r.server_ms_per_push for r in measured)
        storage = statistics.mean(r.storage_cpu / r.window for r in measured)
        busy = statistics.mean(r.machine_busy for r in measured)
        p99 = statistics.mean(r.result.percentile(0.99) for r in measured)
        line = (
            f"webhook {name}, {mix_name} mix: {rate:.1f} pushes/s achieved; server CPU {cpu:.2f} ms per push; "
            f"PostgreSQL+Redis {storage:.2f} cores; machine {busy * 100:.0f}% busy; p99 per round "
            + ", ".join(f"{r.result.percentile(0.99):.1f}" for r in measured)
            + f" ms (mean {p99:.1f})"
        )
        if mix_name == "desk":
            pooled = pct(ms, 99)
            on_rate = all(r.result.throughput >= 0.97 * args.rate and not r.result.unsent for r in measured)
            met = pooled <= WEBHOOK_P99_MS and on_rate and errors == 0
            line += f"; target p99 <= {WEBHOOK_P99_MS:.0f} ms at {args.rate:g}/s: {'met' if met else 'NOT met'}"
        part.lines.append(line)
        for r in measured:
            for reason, count in r.result.failures.most_common():
                part.lines.append(f"**webhook {name} {mix_name} mix: {count} x {reason}** e.g. {r.result.samples[:1]}")
    part.lines.append(
        f"webhook {name}: {args.entries:,} entries loaded through `knowledge.create` in {loaded_s:.1f} s; matcher "
        f"preloaded by every worker before its first push: {len(ready)} log lines `knowledge-base matcher ready` "
        f"for {args.workers} workers, and the first {len(first)} free-text pushes after start (each on a new "
        f"connection) took {', '.join(f'{v:.0f}' for v in first)} ms (jieba's load alone is ~1 s); "
        f"{len(runner.problems)} problems"
    )
    part.lines += [f"webhook {name}, {line}" for line in profile_lines]


def in_process(database_url: str, redis_url: str, account: Any, entries: int, work: Path, n: int) -> list[str]:
    """Where a push's time goes, without gunicorn, the network or the other pushes: the app in this process
    (Flask's test client) handles ``n`` pushes of the load generator's own mix and ``5 n`` of free text, one after
    another: the process's CPU time per push by kind; then as many free-text pushes again under ``cProfile`` (the
    pipeline's worker thread, where the routing, the handler and the database work happen)."""
    from app import create_app, warm_up
    from bench.loadgen import push_fields
    from bench.servers import bench_settings
    from core.app import EXTENSION

    app = create_app(bench_settings(work, database_url, redis_url, account))
    warm_up(app)
    client = app.test_client()
    seed = secrets.randbelow(2**27)

    pipeline = app.extensions["xiaoyou.pipeline"]
    profile = cProfile.Profile()
    handle = pipeline._work

    def profiled(*args: Any, **kwargs: Any) -> Any:  # the push's own work, in the pipeline's worker thread
        profile.enable()
        try:
            return handle(*args, **kwargs)
        finally:
            profile.disable()

    wrong: list[str] = []

    def post(fields: dict[str, object], expected: str | re.Pattern[str] | None = None) -> float:
        """The push handled; CPU ms of the process (the request thread and the pipeline's worker) meanwhile."""
        push = account.build_push(fields, mode="safe")
        url = "/wechat?" + urlencode(push.query)
        started = time.process_time()
        answer = client.post(url, data=push.body, content_type="text/xml")
        spent = (time.process_time() - started) * 1000
        if answer.status_code != 200:
            raise BenchError(f"in-process push answered HTTP {answer.status_code}")
        if expected is not None:
            content = account.read_reply(answer.data, encrypted=True).get("Content", "")
            ok = content == expected if isinstance(expected, str) else expected.fullmatch(content) is not None
            if not ok:
                wrong.append(f"{fields['Content']!r} got {content[:40]!r}")
        return spent

    by_kind: dict[str, list[float]] = {}
    for i in range(n):  # the load generator's own mix: 80 % keywords, 10 % subscribe, 10 % menu click
        fields = push_fields(seed, 0, i)
        by_kind.setdefault("own mix: " + str(fields.get("Content") or fields.get("Event")), []).append(post(fields))
    desk_ms: list[float] = []
    for profiling in (False, True):  # timed, then profiled (the profiler slows what it watches)
        if profiling:
            pipeline._work = profiled
        for i in range(n * len(DESK_SLOTS) // 4):
            fields, expected = desk_push(str(entries), seed=seed + 1 + profiling, worker=0, index=i, expect="bot")
            kind = DESK_SLOTS[i % len(DESK_SLOTS)]
            kind = "miss" if kind == "follow_up" and i < FOLLOW_GAP + 3 else kind
            spent = post(fields, expected)
            if not profiling:
                by_kind.setdefault(f"free text: {kind}", []).append(spent)
                desk_ms.append(spent)
    pipeline._work = handle
    lines = [
        "in-process CPU ms per push by kind (" + ", ".join(
            f"{kind} {statistics.median(v):.2f} (p90 {pct(v, 90):.2f}, n {len(v)})" for kind, v in by_kind.items()
        ) + f"); free text overall {statistics.mean(desk_ms):.2f} mean; {len(wrong)} unexpected replies"
        + (f" (e.g. {'; '.join(wrong[:3])})" if wrong else "")
    ]  # fmt: skip
    stats = pstats.Stats(profile)
    calls = len(desk_ms)  # as many profiled
    root = str(Path(__file__).resolve().parent.parent)
    rows = []
    for (path, _line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        ours = path.startswith(root) and "/.venv/" not in path and "/bench/" not in path
        rows.append((cumtime, tottime, f"{Path(path).parent.name}/{Path(path).name}:{name}", ours))
    top = sorted((r for r in rows if r[3]), reverse=True)[:18]
    lines.append(
        "in-process profile of the free-text pushes' work (the pipeline's worker thread: routing, handler, "
        "database), the app's functions by cumulative ms per push (own ms in brackets): "
        + ", ".join(f"`{name}` {cum / calls * 1000:.2f} ({own / calls * 1000:.2f})" for cum, own, name, _ in top)
    )
    top_own = sorted(rows, key=lambda r: r[1], reverse=True)[:12]
    lines.append(
        "in-process profile, every function by own time (ms per free-text push): "
        + ", ".join(f"`{name}` {own / calls * 1000:.2f}" for _cum, own, name, _ in top_own)
    )
    app.extensions[EXTENSION].db.dispose()
    return lines


def part_webhook(args: argparse.Namespace) -> Part:
    part = Part()
    # The matcher's scores depend on set order in ties, so on the hash seed: the load generator checks each reply
    # against its own copy of the matcher, so it and the server run with one seed (a random one per run).
    os.environ.setdefault("PYTHONHASHSEED", str(secrets.randbelow(2**31)))
    backends = [b.strip() for b in args.webhook_backends.split(",") if b.strip()]
    for backend in backends:
        if backend == "postgresql":
            _webhook_on(args, args.database_url, args.redis_url, part)
        elif backend == "sqlite":
            _webhook_on(args, "", "", part)
        else:
            raise BenchError(f"unknown webhook backend {backend!r} (postgresql, sqlite)")
    return part


# --- the inbox at a million inquiries ------------------------------------------------------------------------------

CHANNEL_WEIGHTS = {"wechat": 62, "miniprogram": 20, "phone": 9, "email": 4, "letter": 1, "in_person": 4}
CATEGORY_WEIGHTS = {"card": 25, "verification": 18, "data_update": 14, "donation": 8, "event": 12, "archive": 10,
                    "branch": 5, "other": 8}  # fmt: skip
PRIORITY_WEIGHTS = {"low": 5, "normal": 80, "high": 12, "urgent": 3}
RESOLUTIONS = ("已电话答复", "已在小程序处理", "已转教务处档案室办理", "已邮寄", "重复提问，已合并", "已按知识库答复")
INBOX_TABS = ("mine", "unassigned", "overdue", "escalated", "all")


def _inquiry_times(rng: random.Random, now: datetime, closed: int, open_: int) -> list[tuple[datetime, bool]]:
    """(created_at, open) in id order: closed ones over three years at a growing rate with a September and a
    graduation peak; open ones over the last weeks (most of them days old)."""
    out: list[tuple[datetime, bool]] = []
    span = 3 * 365
    for _ in range(closed):
        if rng.random() < 0.2:  # the start of term and graduation: the busy weeks
            year = now.year - rng.randrange(3)
            at = datetime(year, rng.choice((6, 9)), 1, tzinfo=UTC) + timedelta(days=rng.random() * 30)
            if at < now - timedelta(days=14):
                out.append((at, False))
                continue
        out.append((now - timedelta(days=14 + (span - 14) * (1 - rng.random() ** 0.5)), False))
    for _ in range(open_):
        out.append((now - timedelta(days=min(60.0, rng.expovariate(1 / 5))), True))
    out.sort(key=lambda item: item[0])
    return out


def load_inquiries(
    db: Any, settings: Any, *, n: int, open_: int, staff_ids: list[int], seed: int, now: datetime
) -> dict[str, int]:
    """``n`` inquiries with their events, written with ``COPY``: most closed (answered, resolved, some rated), the
    ``open_`` newest-ish open (assigned to ~10 staff or not, some answered, some escalated, due by ``sla_hours``);
    each with its opening message, a reply when answered and its closing step when closed."""
    rng = random.Random(seed)
    sla = settings.inquiries.sla_hours
    kb = knowledge_base(2000)
    questions = [t.text for t in chat_texts(kb, 5000, seed=seed)] + list(OFFICE_MISSES)
    channels, channel_w = list(CHANNEL_WEIGHTS), list(CHANNEL_WEIGHTS.values())
    categories, category_w = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    priorities, priority_w = list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values())
    staff_w = [3 if i == 0 else 1 + i % 3 for i in range(len(staff_ids))]  # the bench officer: a busy one
    sealed = [f"b1:{rng.randbytes(90).hex()}" for _ in range(50)]  # the size of a sealed requester; never opened
    counts = {"inquiries": 0, "open": 0, "escalated": 0, "open_unassigned": 0, "events": 0}
    events: list[tuple[Any, ...]] = []
    columns = ("id, openid, source_key, question, status, channel, requester_sealed, category, priority, assignee_id, "
               "due_at, escalated, reminder_stage, last_message_at, answered_at, answer_waiting, resolution, "
               "closed_at, rating, rated_at, created_by, created_at")  # fmt: skip
    with raw_connection(db) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY inquiries ({columns}) FROM STDIN") as copy:
            for ident, (created, is_open) in enumerate(_inquiry_times(rng, now, n - open_, open_), start=1):
                channel = rng.choices(channels, channel_w)[0]
                category = rng.choices(categories, category_w)[0]
                chat = channel in ("wechat", "miniprogram")
                openid = f"o_inq_{rng.randrange(400_000):06d}" if chat else None
                staff_name = f"staff:bench{rng.randrange(10)}"
                question = rng.choice(questions)
                due = created + timedelta(hours=sla.get(category, sla["other"]))
                assignee: int | None = rng.choices(staff_ids, staff_w)[0]
                answered = created + timedelta(hours=min(rng.expovariate(1 / 12), 200))
                closed = escalated = False
                resolution: str | None = None
                closed_at: datetime | None = None
                rated_at: datetime | None = None
                rating: int | None = None
                answered_at: datetime | None = None
                stage = 0
                if is_open:
                    if rng.random() < 0.3:
                        assignee = None
                        counts["open_unassigned"] += 1
                    answered_at = answered if rng.random() < 0.35 and answered < now else None
                    escalated = rng.random() < 0.03
                    stage = 0 if answered_at or due > now + timedelta(hours=4) else (1 if due > now else 2)
                    counts["open"] += 1
                    counts["escalated"] += escalated
                else:
                    closed = True
                    answered_at = answered
                    closed_at = answered + timedelta(hours=rng.expovariate(1 / 30))
                    resolution = rng.choice(RESOLUTIONS)
                    if rng.random() < 0.3:
                        rating = rng.choices((5, 4, 3, 2, 1), (60, 20, 10, 5, 5))[0]
                        rated_at = closed_at + timedelta(hours=rng.random() * 48)
                copy.write_row((
                    ident, openid, f"bench:{ident}", question, "closed" if closed else "open", channel,
                    None if chat else rng.choice(sealed), category, rng.choices(priorities, priority_w)[0], assignee,
                    due, escalated, stage, created, answered_at, is_open and answered_at is not None
                    and rng.random() < 0.05, resolution, closed_at, rating, rated_at,
                    "user" if chat else staff_name, created,
                ))  # fmt: skip
                counts["inquiries"] += 1
                events.append((ident, "message", "user" if chat else staff_name, question, "text", None, None, created))
                if answered_at is not None:
                    events.append((ident, "reply", staff_name, "您好，" + (resolution or "已收到，正在处理"), None,
                                   "sent", answered_at, answered_at))  # fmt: skip
                if closed_at is not None:
                    events.append((ident, "close", staff_name, resolution, None, None, None, closed_at))
                if rated_at is not None:
                    events.append((ident, "rate", "user", str(rating), None, None, None, rated_at))
        sql = "COPY inquiry_events (inquiry_id, kind, actor, body, msg_type, delivery, delivered_at, at) FROM STDIN"
        with cur.copy(sql) as copy:
            for event in events:
                copy.write_row(event)
        counts["events"] = len(events)
        cur.execute("SELECT setval('inquiries_id_seq', (SELECT max(id) FROM inquiries))")
    with db.engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        auto.exec_driver_sql("VACUUM ANALYZE inquiries")
        auto.exec_driver_sql("VACUUM ANALYZE inquiry_events")
    return counts


def _inbox_calls(session: Any, settings: Any, me: int, cursors: dict[str, str]) -> dict[str, Callable[[], object]]:
    limit = settings.admin.audit_page_size * 5
    calls: dict[str, Callable[[], object]] = {
        "tab counts (`desk.counts`)": lambda: desk.counts(session, settings, me=me)
    }
    for tab in INBOX_TABS:
        calls[f"tab {tab}, first page"] = functools.partial(desk.inbox, session, tab=tab, me=me, limit=limit)
    for tab, after in cursors.items():
        calls[f"tab {tab}, a later page (keyset)"] = functools.partial(
            desk.inbox, session, tab=tab, me=me, after=after, limit=limit
        )
    return calls


def _later_cursors(settings: Any, me: int, pages: int) -> dict[str, str]:
    """Cursors of a later page: ``all`` (newest first) ``pages`` pages down, walked page by page; ``unassigned``
    (by due time) its last page of open inquiries."""
    limit = settings.admin.audit_page_size * 5
    out: dict[str, str] = {}
    db = Database(settings.database_url)
    try:
        with db.session() as session:
            for tab, most in (("all", pages), ("unassigned", 1000)):
                after, last = None, None
                for _ in range(most):
                    page = desk.inbox(session, tab=tab, me=me, after=after, limit=limit)
                    if page.after is None:
                        break
                    last, after = after, page.after
                chosen = after if tab == "all" else (last or after)
                if chosen:
                    out[tab] = chosen
    finally:
        db.dispose()
    return out


def part_inbox(args: argparse.Namespace) -> Part:
    part = Part()
    now = datetime.now(UTC)
    servers: list[Server] = []
    embedded = not args.redis_url
    with tempfile.TemporaryDirectory(prefix="xiaoyou-inbox-bench-") as tmp:
        work = Path(tmp)
        try:
            redis_url = args.redis_url or start_embedded(work / "redis")
            app_url = with_search_path(args.database_url, BENCH_SCHEMA)
            settings = bench_app_settings(work, app_url, redis_url, args.seed)
            backend = prepare_backend(work, args.database_url, redis_url, official_account())
            db = Database(settings.database_url)
            try:
                with db.session() as session:
                    staff_ids = [
                        staff.create_account(
                            session, username=f"bench{secrets.randbelow(10**8)}", display_name=f"压测办公室{i}",
                            password=secrets.token_urlsafe(16), roles=["officer"], actor="bench",
                        ).id
                        for i in range(10)
                    ]  # fmt: skip
                started = time.perf_counter()
                facts = load_inquiries(db, settings, n=args.inquiries, open_=args.open, staff_ids=staff_ids,
                                       seed=args.seed, now=now)  # fmt: skip
                load_s = time.perf_counter() - started
                print(f"inbox: {facts} written in {load_s:.0f} s", flush=True)
                me = staff_ids[0]
                cursors = _later_cursors(settings, me, args.later_page)
                with db.session() as session:
                    plan_rows = explain_calls(session, _inquiry_calls_warm(session, settings, me, cursors), every=True)
                    service_ms = _time_calls(session, _inbox_calls(session, settings, me, cursors), args.requests)
            finally:
                db.dispose()
            client = redis.Redis.from_url(redis_url)
            try:
                token = sessions.start(client, settings.admin, me, stage="full")
            finally:
                client.close()
            env = server_env(work, backend, official_account(), work / "prometheus")
            env.update({f"XIAOYOU__PRIVACY__{k.upper()}": v for k, v in privacy_keys(args.seed).items()})
            env["XIAOYOU__LOGGING__LEVEL"] = "WARNING"
            app = start_server("app", "wsgi:app", work, env, args.workers, args.threads)
            servers.append(app)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(work / "prometheus-reference")
            reference = start_server("reference", "bench.card_reference:create_app()", work, env, args.workers,
                                     args.threads)  # fmt: skip
            servers.append(reference)
            for server in servers:
                wait_healthy(server)

            def listed(status: int, body: bytes) -> bool:
                return status == 200 and b'id="inquiry-table"' in body and b'<tr id="inquiry-' in body

            def ok(status: int, body: bytes) -> bool:
                return status == 200 and b"ok" in body

            targets: dict[str, tuple[Server, list[str], str | None, Check]] = {
                f"inbox /admin/inquiries?tab={tab}, first page (officer)": (
                    app, [f"/admin/inquiries?tab={tab}"], token, listed)
                for tab in INBOX_TABS
            }  # fmt: skip
            for tab, after in cursors.items():
                targets[f"inbox tab {tab}, a later page (`after=` keyset cursor)"] = (
                    app, [f"/admin/inquiries?tab={tab}&after={after}"], token, listed)  # fmt: skip
            targets["reference (do-nothing Flask page)"] = (reference, ["/healthz"], None, ok)
            print(f"inbox: measuring {args.requests} sequential requests per page ...", flush=True)
            timings, failures = measure(targets, 20, args.requests)
        finally:
            for server in servers:
                server.stop()
            if embedded:
                stop_embedded()
    pages = [t for name, values in timings.items() if name.startswith("inbox") for t in values]
    for name, values in timings.items():
        failed = len(failures.get(name, []))
        part.rows.append(row(name + (f", **{failed} failed**" if failed else ""), values) if values else
                         f"| {name}: none answered, {failed} failed | 0 | | | | |")  # fmt: skip
    for name, values in service_ms.items():
        part.rows.append(row(f"in-process `services.inquiries.desk`: {name}", values))
    for name, errors in failures.items():
        if errors:
            part.lines.append(f"**{name}: {len(errors)} failed**, e.g. {errors[0]}")
    met = bool(pages) and pct(pages, 99) <= INBOX_P99_MS and not any(failures.values())
    part.lines += [
        f"inbox data on {backend.label}: "
        + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in facts.items())
        + f", staff 10 officers (the page's viewer is one, with its share of the open ones); written with COPY and "
        f"vacuumed in {load_s:.0f} s; {args.requests} sequential requests per page after 20 unmeasured, round-robin "
        f"on one keep-alive connection per server, gunicorn {args.workers} workers x {args.threads} threads",
        f"inbox target: every tab's page p99 <= {INBOX_P99_MS:.0f} ms (all inbox pages together: "
        f"{pct(pages, 99) if pages else float('nan'):.1f} ms): {'met' if met else 'NOT met'}",
        "inbox query plans (`EXPLAIN ANALYZE` of each statement the services send, on the loaded data): "
        + "; ".join(f"**{label}**: {plan} ({ms:.2f} ms)" for label, plan, ms in plan_rows),
    ]
    return part


def _inquiry_calls_warm(
    session: Any, settings: Any, me: int, cursors: dict[str, str]
) -> dict[str, Callable[[], object]]:
    calls = _inbox_calls(session, settings, me, cursors)
    for call in calls.values():  # the plans of a warm cache, as the pages see it
        call()
    return calls


def _time_calls(session: Any, calls: dict[str, Callable[[], object]], n: int) -> dict[str, list[float]]:
    """Each call ``n`` times after 10 unmeasured (ms), the session emptied after each as a request's would be."""
    out: dict[str, list[float]] = {}
    for name, call in calls.items():
        values = out.setdefault(name, [])
        for i in range(n + 10):
            started = time.perf_counter()
            call()
            session.expunge_all()
            if i >= 10:
                values.append((time.perf_counter() - started) * 1000)
    return out


PARTS: dict[str, Callable[[argparse.Namespace], Part]] = {
    "matcher": part_matcher,
    "webhook": part_webhook,
    "inbox": part_inbox,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--confident", type=float, default=82, help="inquiries.confident_score")
    parser.add_argument("--suggest", type=float, default=60, help="inquiries.suggest_score")
    parser.add_argument("--rate", type=float, default=300, help="webhook: pushes per second, open loop")
    parser.add_argument("--webhook-duration", type=float, default=20, help="webhook: seconds per measured phase")
    parser.add_argument("--webhook-warmup", type=float, default=5, help="webhook: seconds of unmeasured free text")
    parser.add_argument("--webhook-rounds", type=int, default=2, help="webhook: rounds of (own mix, free text)")
    parser.add_argument("--webhook-backends", default="postgresql,sqlite", help="webhook: postgresql and/or sqlite")
    parser.add_argument("--profile-pushes", type=int, default=200, help="webhook: in-process pushes per kind")
    parser.add_argument("--inquiries", type=int, default=1_000_000, help="inbox: inquiries written")
    parser.add_argument("--open", type=int, default=3000, help="inbox: of them open")
    parser.add_argument("--later-page", type=int, default=50, help="inbox: the `all` tab's page measured as later")
    parser.add_argument("--requests", type=int, default=300, help="inbox: measured requests per page")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (as cli run)")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (as cli run)")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL),
        help="PostgreSQL for the webhook and inbox parts (schema xiaoyou_bench, re-created)",
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", ""),
                        help="Redis (its xy:* keys deleted); default an embedded one")  # fmt: skip
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--no-record", action="store_true", help="print only; do not write bench/RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown or not chosen:
        print(f"bench-inquiries: unknown parts {unknown}; the parts are {', '.join(PARTS)}", file=sys.stderr)
        return 2
    load_before = load_average()
    stop_on_sigterm()
    try:
        results = {name: PARTS[name](args) for name in chosen}
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except (BenchError, OSError, RuntimeError, TimeoutError, SQLAlchemyError, RedisError) as exc:
        print(f"bench-inquiries could not run: {exc}", file=sys.stderr)
        return 2
    database = args.database_url.rpartition("@")[2] if {"webhook", "inbox"} & set(chosen) else ""
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: parts {', '.join(chosen)}",
        "",
        f"- Command: `python -m bench.inquiries_bench {' '.join(sys.argv[1:] if argv is None else argv)}`"
        + (f" with BENCH_DATABASE_URL at `{database}`" if database else "")
        + " (`make bench-inquiries` runs every part with the defaults)",
        f"- App revision: {revision()}",
        f"- Machine: {machine()}; load average before {load_before}, after {load_average()} (shared machine)",
        "",
        "| measured (ms each) | n | p50 ms | p90 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|",
        *(r for part in results.values() for r in part.rows),
        "",
        *(f"- {line}" for part in results.values() for line in part.lines),
        "",
    ]
    section = "\n".join(lines)
    print(section)
    if not args.no_record:
        write_block(args.results, "inquiries", section, intro=INTRO)
    return 0


if __name__ == "__main__":
    sys.exit(main())
