"""A tiny, valid PNG standing in for a mini-program code (小程序码), built with zlib and struct only.

The picture is a deterministic pattern of the requested scene and page, so different codes differ; the scene, page
and env_version are also written into ``tEXt`` chunks so a test can read back what a "scan" would deliver. Real codes
carry the same data inside the image; nobody scans the emulator's.
"""

from __future__ import annotations

import hashlib
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODULES = 21  # the size of a version-1 QR code; any small square would do
SCALE = 4


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def code_png(text: dict[str, str]) -> bytes:
    """An 8-bit greyscale PNG whose pattern derives from ``text``; each item is also stored as a tEXt chunk."""
    seed = "\n".join(f"{k}={v}" for k, v in sorted(text.items())).encode()
    bits = b""
    counter = 0
    while len(bits) * 8 < MODULES * MODULES:
        bits += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    size = MODULES * SCALE
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 (None) for every scanline
        for x in range(size):
            index = (y // SCALE) * MODULES + (x // SCALE)
            dark = bits[index // 8] >> (7 - index % 8) & 1
            row.append(0 if dark else 255)
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # width, height, depth 8, greyscale
    chunks = [_chunk(b"IHDR", header)]
    for key, value in text.items():
        chunks.append(_chunk(b"tEXt", key.encode("latin-1") + b"\x00" + value.encode("latin-1", "replace")))
    chunks.append(_chunk(b"IDAT", zlib.compress(b"".join(rows))))
    chunks.append(_chunk(b"IEND", b""))
    return SIGNATURE + b"".join(chunks)


def read_text_chunks(png: bytes) -> dict[str, str]:
    """The tEXt chunks of a PNG (checking every chunk's CRC); raises ``ValueError`` for anything that is not a PNG."""
    if not png.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    offset = len(SIGNATURE)
    found: dict[str, str] = {}
    while offset < len(png):
        if offset + 8 > len(png):
            raise ValueError("truncated chunk header")
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        kind = png[offset + 4 : offset + 8]
        data = png[offset + 8 : offset + 8 + length]
        end = offset + 12 + length
        if end > len(png):
            raise ValueError("truncated chunk")
        (crc,) = struct.unpack(">I", png[end - 4 : end])
        if crc != zlib.crc32(kind + data) & 0xFFFFFFFF:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"tEXt":
            key, _, value = data.partition(b"\x00")
            found[key.decode("latin-1")] = value.decode("latin-1")
        offset = end
        if kind == b"IEND":
            break
    return found
