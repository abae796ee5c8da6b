"""What a file is, from its bytes: mimetype, image dimensions, animation, durations, PDF pages. Pure functions.

No dependency: the magic numbers and headers are read here (PNG, JPEG, GIF, WebP, PDF, Ogg/Opus, MP3, MP4,
WebM, WAV, AMR, ZIP). Each function gets the first bytes of the file (`head`, HEAD_BYTES are enough) and,
where the answer may sit at the end (an MP4's `moov`, an Ogg stream's last granule), its last bytes (`tail`).
Anything unrecognised gives None: the caller then falls back to the file name or a default.
"""

from __future__ import annotations

import mimetypes
import re
import struct

HEAD_BYTES = 256 * 1024  # JPEG markers before the first frame header (EXIF, ICC) fit in this
TAIL_BYTES = 64 * 1024

OPUS_OGG = "audio/ogg; codecs=opus"  # what WhatsApp labels voice notes


def sniff_mimetype(head: bytes, file_name: str | None = None) -> str | None:
    """The mimetype the content shows; for ZIP-based formats (docx, xlsx, apk) the file name decides."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"OggS"):
        return OPUS_OGG if b"OpusHead" in head[:128] else "audio/ogg"
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio/mpeg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand in (b"3gp4", b"3gp5", b"3gp6", b"3g2a"):
            return "video/3gpp"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"PK\x03\x04"):
        guessed = _by_name(file_name)
        return guessed or "application/zip"
    return _by_name(file_name)


def _by_name(file_name: str | None) -> str | None:
    if not file_name:
        return None
    guessed, _ = mimetypes.guess_type(file_name, strict=False)
    return guessed


# -- images -----------------------------------------------------------------------------------------------


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, GIF, WebP or JPEG, read from its header; None if not found."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        width, height = struct.unpack("<HH", head[6:10])
        return width, height
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        width = 1 + int.from_bytes(head[24:27], "little")
        height = 1 + int.from_bytes(head[27:30], "little")
        return width, height
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


# Start-of-frame markers carry the dimensions; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(head):
        if head[offset] != 0xFF:
            return None
        marker = head[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        length = int.from_bytes(head[offset + 2:offset + 4], "big")
        if marker in _SOF_MARKERS:
            if offset + 9 > len(head):
                return None
            height, width = struct.unpack(">HH", head[offset + 5:offset + 9])
            return width, height
        if marker == 0xDA or length < 2:  # start of scan: no frame header before the image data
            return None
        offset += 2 + length
    return None


def webp_animated(head: bytes) -> bool:
    """An animated WebP (VP8X with the animation flag): what WhatsApp calls an animated sticker."""
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] == b"VP8X" and len(head) > 20 \
        and bool(head[20] & 0x02)


# -- durations ----------------------------------------------------------------------------------------------


def ogg_seconds(head: bytes, tail: bytes) -> int | None:
    """Length of an Ogg Opus (or Vorbis) stream: the last page's granule position over the sample rate."""
    if not head.startswith(b"OggS"):
        return None
    last = tail.rfind(b"OggS")
    if last < 0 or last + 14 > len(tail):
        return None
    granule = int.from_bytes(tail[last + 6:last + 14], "little", signed=True)
    if granule <= 0:
        return None
    opus = head.find(b"OpusHead")
    if opus >= 0 and opus + 12 <= len(head):
        pre_skip = int.from_bytes(head[opus + 10:opus + 12], "little")
        return max(0, round((granule - pre_skip) / 48000))
    vorbis = head.find(b"\x01vorbis")
    if vorbis >= 0 and vorbis + 16 <= len(head):
        rate = int.from_bytes(head[vorbis + 12:vorbis + 16], "little")
        return round(granule / rate) if rate else None
    return None


def mp4_seconds(head: bytes, tail: bytes) -> int | None:
    """Length of an MP4/QuickTime file from its `mvhd` box (at the start or the end of the file)."""
    for window in (head, tail):
        found = window.find(b"mvhd")
        if found < 4 or found + 24 > len(window):
            continue
        version = window[found + 4]
        if version == 1 and found + 36 <= len(window):
            timescale, duration = struct.unpack(">IQ", window[found + 24:found + 36])
        else:
            timescale, duration = struct.unpack(">II", window[found + 16:found + 24])
        if timescale:
            return round(int(duration) / int(timescale))
    return None


def media_seconds(head: bytes, tail: bytes) -> int | None:
    """The duration of an audio or video file when its container tells it (Ogg, MP4), else None."""
    return ogg_seconds(head, tail) if head.startswith(b"OggS") else mp4_seconds(head, tail)


# -- documents ----------------------------------------------------------------------------------------------

_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


class PdfPageCounter:
    """Counts `/Type /Page` objects over chunks (a match split across two chunks is still found once)."""

    OVERLAP = 32

    def __init__(self) -> None:
        self.pages = 0
        self._carry = b""

    def update(self, chunk: bytes) -> None:
        data = self._carry + chunk
        # Count only matches that start before the overlap kept for the next chunk, so none counts twice.
        limit = max(0, len(data) - self.OVERLAP)
        self.pages += sum(1 for match in _PDF_PAGE.finditer(data) if match.start() < limit)
        self._carry = data[limit:]

    def finish(self) -> int | None:
        self.pages += len(_PDF_PAGE.findall(self._carry))
        self._carry = b""
        return self.pages or None
