"""A small PNG decoder for screenshots (8-bit RGB or RGBA, non-interlaced, any of the five filters), and how
to read a QR's modules out of one: enough for a headless browser's screenshot without an imaging library."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from botmetrics import PNG_SIGNATURE


@dataclass(frozen=True, slots=True)
class Image:
    width: int
    height: int
    channels: int  # 3 (RGB) or 4 (RGBA)
    pixels: bytes  # rows top to bottom, `channels` bytes a pixel, no filter bytes

    def luma(self, x: int, y: int) -> int:
        at = (y * self.width + x) * self.channels
        r, g, b = self.pixels[at:at + 3]
        return (299 * r + 587 * g + 114 * b) // 1000

    def dark(self, x: int, y: int) -> bool:
        return self.luma(x, y) < 128


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode(data: bytes) -> Image:
    """The pixels of `data`; ValueError for what this decoder does not read (palette, 16-bit, interlaced)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    offset, header, idat = len(PNG_SIGNATURE), b"", bytearray()
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind, body = data[offset + 4:offset + 8], data[offset + 8:offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length:offset + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = 3 if colour == 2 else 4
    stride = width * channels
    raw = zlib.decompress(bytes(idat))
    out = bytearray(stride * height)
    previous = bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]
            c = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 0xFF
            elif kind != 0:
                raise ValueError(f"unknown filter {kind} on row {y}")
        out[y * stride:(y + 1) * stride] = line
        previous = line
    return Image(width, height, channels, bytes(out))


def qr_modules(image: Image, size: int, min_run: int = 30) -> list[list[bool]]:
    """The `size` x `size` modules of the QR in `image` (True = dark), without its quiet zone.

    The QR is found by its finder patterns: their 7-module dark rows are the only long horizontal dark runs
    on the page (a bold heading's crossbar is about 20 pixels, a finder row at 5 pixels a module 35), so the
    box of every pixel in a run of at least `min_run` pixels spans exactly the symbol, from the top-left
    finder to the other two. Modules are then sampled at their centres, which stays right when the browser
    scales a module to 5 or 6 pixels."""
    left, top, right, bottom = image.width, image.height, -1, -1
    for y in range(image.height):
        run = 0
        for x in range(image.width + 1):
            if x < image.width and image.dark(x, y):
                run += 1
                continue
            if run >= min_run:
                left, right = min(left, x - run), max(right, x - 1)
                top, bottom = min(top, y), max(bottom, y)
            run = 0
    if right < 0:
        raise AssertionError("no QR in the screenshot (no long dark run)")
    step_x, step_y = (right - left + 1) / size, (bottom - top + 1) / size
    return [[image.dark(int(left + (i + 0.5) * step_x), int(top + (j + 0.5) * step_y)) for i in range(size)]
            for j in range(size)]
