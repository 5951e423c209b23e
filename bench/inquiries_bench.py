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

The webhook (300 pushes/s of free text) and inbox (1,000,000 inquiries) parts are to be added beside it by the
lead: write ``part_webhook`` / ``part_inbox`` and list them in ``PARTS``. The results go to the ``inquiries`` block of
``bench/RESULTS.md`` (``bench.report.write_block``). Exit status 0 when the run completed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.report import load_average, machine, revision, write_block
from services.inquiries.knowledge import Loaded, split_keywords

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
INTRO = """## Help desk (`make bench-inquiries`)

The knowledge-base matcher (jieba + rapidfuzz, `services/inquiries/matcher.py`) in process, per chat text, against
a plain keyword lookup and rapidfuzz alone measured in the same run. Each run adds a section at the end of this block.
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


def knowledge_base(n: int, seed: int = 12) -> list[Loaded]:
    """``n`` distinct entries: every (topic, verb, template) in turn, then the same for each audience, plus the
    English ones."""
    rng = random.Random(seed)
    rows: list[Loaded] = []
    seen: set[str] = set()
    for i, (question, keywords, category, answer) in enumerate(ENGLISH, start=1):
        rows.append(Loaded(i, question, answer, keywords, category))
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
                    rows.append(Loaded(len(rows) + 1, question, answer, f"{keywords} {extra}", category))
                    if len(rows) >= n:
                        return rows
    raise ValueError(f"the generator makes at most {len(rows)} entries")


@dataclass(frozen=True)
class ChatText:
    kind: str  # hit, paraphrase, miss, long
    text: str
    expected: int | None  # the entry a hit is the question of


def chat_texts(entries: list[Loaded], n: int, seed: int = 7) -> list[ChatText]:
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
        for word in split_keywords(entry.keywords):
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


PARTS: dict[str, Callable[[argparse.Namespace], Part]] = {"matcher": part_matcher}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--texts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--confident", type=float, default=82, help="inquiries.confident_score")
    parser.add_argument("--suggest", type=float, default=60, help="inquiries.suggest_score")
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
    results = {name: PARTS[name](args) for name in chosen}
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: parts {', '.join(chosen)}",
        "",
        f"- Command: `python -m bench.inquiries_bench --parts {','.join(chosen)} --entries {args.entries} "
        f"--texts {args.texts}` (`make bench-inquiries` runs every part with the defaults)",
        f"- App revision: {revision()}",
        f"- Machine: {machine()}; load average before {load_before}, after {load_average()} (shared machine)",
        "",
        "| per chat text | n | p50 ms | p90 ms | p99 ms | max ms |",
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
