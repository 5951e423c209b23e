"""A realistic generated roster: Chinese names, colleges, majors, classes and years across five decades, with
continuing-education (adult, online) and international students. Deterministic for a seed.

Used by ``demo seed`` (and ``make run`` on an empty embedded database) and by the import benchmark. ID numbers are
generated valid (python-stdnum computes the check digit); phones are made up but valid for phonenumbers (a few abroad,
in E.164); emails are made up.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.cn import ric

from core.settings import DatabankSettings
from models import Person
from services.databank import importer, names
from services.databank.keys import Keyring

HEADERS = [
    "姓名",
    "曾用名",
    "性别",
    "学号",
    "学院",
    "专业",
    "班级",
    "入学年份",
    "毕业年份",
    "学历",
    "留学生",
    "国籍",
    "身份证号",
    "手机",
    "邮箱",
    "工作单位",
    "职务",
    "行业",
    "城市",
    "国家",
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫")
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强晓明晓红小红海燕丹玉兰萍红梅鑫"
    "婷雪飞斌宇浩然子涵欣怡梓轩一诺雨桐佳琪思远博文嘉怡俊杰文静晨曦梦琪宏伟立新永强振华春梅秋菊冬梅"
)
COLLEGES: dict[str, tuple[str, ...]] = {
    "计算机学院": ("计算机科学与技术", "软件工程", "人工智能", "网络工程"),
    "电子信息学院": ("电子信息工程", "通信工程", "微电子科学与工程"),
    "机械工程学院": ("机械设计制造及其自动化", "车辆工程", "工业设计"),
    "土木工程学院": ("土木工程", "建筑学", "给排水科学与工程"),
    "经济管理学院": ("经济学", "金融学", "会计学", "工商管理", "国际经济与贸易"),
    "法学院": ("法学", "知识产权"),
    "外国语学院": ("英语", "日语", "翻译", "汉语国际教育"),
    "文学院": ("汉语言文学", "新闻学", "广告学"),
    "数学与统计学院": ("数学与应用数学", "统计学", "信息与计算科学"),
    "物理学院": ("物理学", "应用物理学"),
    "化学化工学院": ("化学", "应用化学", "化学工程与工艺"),
    "生命科学学院": ("生物科学", "生物技术"),
    "医学院": ("临床医学", "护理学", "药学", "预防医学"),
    "艺术学院": ("音乐学", "美术学", "视觉传达设计"),
    "继续教育学院": ("行政管理", "会计学", "计算机应用技术", "工程管理"),
}
ABBREVIATIONS = {"计算机科学与技术": "计科", "软件工程": "软件", "汉语言文学": "汉语言", "临床医学": "临床"}
LEVELS = (("本科", 4, 62), ("专科", 3, 8), ("硕士", 3, 14), ("博士", 4, 3), ("成人教育", 3, 8), ("网络教育", 3, 5))
FOREIGN = (  # name, nationality, a mobile prefix there and how many digits follow it
    ("Nguyen Van An", "越南", "+84 91 ", 7),
    ("Kim Min-jun", "韩国", "+82 10 3", 7),
    ("Sato Yuki", "日本", "+81 90 1", 7),
    ("Aliyev Rustam", "哈萨克斯坦", "+7 701 ", 7),
    ("Muhammad Ali Khan", "巴基斯坦", "+92 300 ", 7),
    ("Somchai Sukjai", "泰国", "+66 8", 8),
    ("Ivan Petrov", "俄罗斯", "+7 916 ", 7),
    ("Amina Diallo", "塞内加尔", "+221 77 ", 7),
    ("John Smith", "美国", "+1 650 253 ", 4),
    ("Maria Garcia", "西班牙", "+34 6", 8),
)
EMPLOYERS = (
    "华为技术有限公司",
    "腾讯科技",
    "阿里巴巴",
    "中国银行",
    "国家电网",
    "中国建筑",
    "中石化",
    "比亚迪",
    "字节跳动",
    "中兴通讯",
    "人民医院",
    "市第一中学",
    "省人民政府",
    "招商银行",
    "京东",
    "美团",
    "小米科技",
    "中国移动",
)
TITLES = (
    "工程师",
    "高级工程师",
    "经理",
    "主任",
    "教师",
    "医生",
    "研究员",
    "总监",
    "会计师",
    "律师",
    "公务员",
    "创始人",
)
INDUSTRIES = ("信息技术", "金融", "制造业", "建筑", "教育", "医疗卫生", "政府机关", "能源", "互联网", "法律服务")
CITIES = (
    "北京",
    "上海",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "武汉",
    "成都",
    "西安",
    "郑州",
    "长沙",
    "重庆",
    "天津",
    "苏州",
)
ABROAD = (("纽约", "美国"), ("伦敦", "英国"), ("新加坡", "新加坡"), ("东京", "日本"), ("悉尼", "澳大利亚"))
# Region codes python-stdnum knows for every birth year we generate.
REGIONS = ("110101", "110105", "110108", "310101", "310104", "120101")
# Mainland mobile prefixes in use (phonenumbers accepts any 8 digits after them).
MOBILE_PREFIXES = (
    *(f"13{d}" for d in range(10)),
    *("150", "151", "152", "153", "155", "156", "157", "158", "159", "166", "176", "177", "178", "198", "199"),
    *(f"18{d}" for d in range(10)),
)
EMAIL_DOMAINS = ("qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "foxmail.com")


def _name(rng: random.Random) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.35 else 2))
    return surname + given


def _id_number(rng: random.Random, born: date, female: bool) -> str:
    sequence = rng.randrange(0, 500) * 2 + (0 if female else 1)
    body = f"{rng.choice(REGIONS)}{born:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def rows(count: int, seed: int = 2026) -> Iterator[list[str]]:
    """``count`` roster rows in the order of :data:`HEADERS`. Student numbers are unique."""
    rng = random.Random(seed)  # noqa: S311 - made-up data, not secrets
    colleges = list(COLLEGES)
    weights = [level[2] for level in LEVELS]
    for serial in range(1, count + 1):
        level, years, _w = rng.choices(LEVELS, weights)[0]
        college = "继续教育学院" if level in ("成人教育", "网络教育") else rng.choice(colleges[:-1])
        major = rng.choice(COLLEGES[college])
        entry = rng.randint(1977, 2024 - years + 1)
        grad = entry + years
        international = level in ("本科", "硕士", "博士") and rng.random() < 0.03
        female = rng.random() < 0.5
        born = date(entry - (18 if level in ("本科", "专科") else 22), 1, 1) + timedelta(days=rng.randrange(365))
        if international:
            name, nationality, phone_prefix, phone_digits = rng.choice(FOREIGN)
        else:
            name, nationality, phone_prefix, phone_digits = _name(rng), "中国", rng.choice(MOBILE_PREFIXES), 8
        former = _name(rng)[:1] + name[1:] if not international and rng.random() < 0.01 else ""
        college_code = colleges.index(college) + 1
        student_no = f"{entry}{college_code:02d}{serial:07d}"
        class_no = rng.randint(1, 4)
        class_name = f"{ABBREVIATIONS.get(major, major[:2])}{entry % 100:02d}{class_no:02d}班"
        id_number = "" if international or rng.random() < 0.08 else _id_number(rng, born, female)
        phone = "" if rng.random() < 0.15 else f"{phone_prefix}{rng.randrange(10**phone_digits):0{phone_digits}d}"
        email = ""
        if rng.random() < 0.6:
            local = names.forms(name).pinyin or "alumni"
            email = f"{local}{rng.randrange(1000)}@{rng.choice(EMAIL_DOMAINS)}"
        employer = title = industry = city = country = ""
        if grad <= 2024 and rng.random() < 0.6:
            employer, title, industry = rng.choice(EMPLOYERS), rng.choice(TITLES), rng.choice(INDUSTRIES)
            city, country = rng.choice(ABROAD) if rng.random() < 0.05 else (rng.choice(CITIES), "中国")
        yield [
            name,
            former,
            "女" if female else "男",
            student_no,
            college,
            major,
            class_name,
            str(entry),
            str(grad),
            level,
            "是" if international else "否",
            nationality,
            id_number,
            phone,
            email,
            employer,
            title,
            industry,
            city,
            country,
        ]


def seed(
    session: Session, keyring: Keyring, settings: DatabankSettings, *, count: int, random_seed: int = 2026
) -> importer.ImportResult:
    """Import ``count`` generated people as one registrar batch."""
    return importer.import_rows(
        session,
        HEADERS,
        rows(count, random_seed),
        keyring=keyring,
        settings=settings,
        actor="demo",
        label=f"demo roster ({count} rows, seed {random_seed})",
    )


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Person))
