"""The status page's pure parts: the Prometheus text format, a latency histogram, and the QR as a PNG.

No imaging library is needed (requirements.txt has none): a QR is a 1-bit image, so the PNG is written
here with zlib, in the format of the PNG specification (signature, IHDR with bit depth 1 and colour
type 0, one IDAT, IEND, each chunk with its CRC-32).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import qrcode

# Seconds: handler calls are mostly a reply (tens of ms) up to a download or an IQ that times out (30 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(slots=True)
class Histogram:
    """A Prometheus histogram: cumulative bucket counts, the sum and the count."""

    buckets: tuple[float, ...] = LATENCY_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if list(self.buckets) != sorted(self.buckets):
            raise ValueError("histogram buckets must be increasing")
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        self.total += value
        self.count += 1
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric family: a counter, a gauge (a value each) or a histogram."""

    name: str
    kind: str  # "counter", "gauge" or "histogram"
    help: str
    value: float | Histogram


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def render(metrics: Iterable[Metric]) -> str:
    """The text exposition format 0.0.4: `# HELP`, `# TYPE`, then the samples, one per line."""
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {_escape_help(metric.help)}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        if isinstance(metric.value, Histogram):
            histogram = metric.value
            for bound, count in zip(histogram.buckets, histogram.counts, strict=True):
                lines.append(f'{metric.name}_bucket{{le="{_number(bound)}"}} {count}')
            lines.append(f'{metric.name}_bucket{{le="+Inf"}} {histogram.count}')
            lines.append(f"{metric.name}_sum {_number(histogram.total)}")
            lines.append(f"{metric.name}_count {histogram.count}")
        else:
            lines.append(f"{metric.name} {_number(metric.value)}")
    return "\n".join(lines) + "\n"


def qr_matrix(code: str, border: int = 4) -> list[list[bool]]:
    """The QR's modules (True = dark), with the quiet zone of `border` modules the scanners want."""
    qr = qrcode.QRCode(border=border)
    qr.add_data(code)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_1bit(matrix: Sequence[Sequence[bool]], scale: int = 8) -> bytes:
    """`matrix` (True = black) as a grayscale PNG of bit depth 1, each module `scale` pixels square."""
    height = len(matrix) * scale
    width = (len(matrix[0]) if matrix else 0) * scale
    rows = bytearray()
    for row in matrix:
        bits = [not dark for module in row for dark in [module] for _ in range(scale)]  # 1 = white
        packed = bytearray((len(bits) + 7) // 8)
        for index, white in enumerate(bits):
            if white:
                packed[index // 8] |= 0x80 >> (index % 8)
        line = b"\x00" + bytes(packed)  # filter type 0 (none) before each scanline
        rows += line * scale
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return PNG_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + _chunk(
        b"IEND", b"")


def png_matrix(data: bytes, scale: int = 8) -> list[list[bool]]:
    """The modules of a PNG written by `png_1bit` (True = black): how tests compare it with the QR."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    offset, chunks = len(PNG_SIGNATURE), dict[bytes, bytes]()
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset:offset + 4])
        kind = data[offset + 4:offset + 8]
        chunks[kind] = chunks.get(kind, b"") + data[offset + 8:offset + 8 + length]
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    if (depth, colour) != (1, 0):
        raise ValueError("not a 1-bit grayscale PNG")
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + (width + 7) // 8
    modules: list[list[bool]] = []
    for y in range(0, height, scale):
        line = raw[y * stride + 1:(y + 1) * stride]
        modules.append([not line[x // 8] & (0x80 >> (x % 8)) for x in range(0, width, scale)])
    return modules
