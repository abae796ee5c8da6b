"""Mimetype, dimensions, animation, durations and page counts read from the bytes (whatsapp/media_sniff.py)."""

from __future__ import annotations

import os

import pytest

from tests.media_support import jpeg_header, mp4, ogg_opus, pdf, png, webp
from whatsapp.media_sniff import (
    OPUS_OGG,
    PdfPageCounter,
    image_size,
    media_seconds,
    sniff_mimetype,
    webp_animated,
)


@pytest.mark.parametrize(("data", "name", "expected"), [
    (png(), None, "image/png"),
    (jpeg_header(), None, "image/jpeg"),
    (b"GIF89a" + bytes(20), None, "image/gif"),
    (webp(), None, "image/webp"),
    (pdf(), None, "application/pdf"),
    (ogg_opus(), None, OPUS_OGG),
    (b"OggS" + bytes(100), None, "audio/ogg"),
    (b"ID3\x03" + bytes(20), None, "audio/mpeg"),
    (b"\xff\xfb\x90\x00" + bytes(20), None, "audio/mpeg"),
    (mp4(), None, "video/mp4"),
    (bytes(4) + b"ftypM4A " + bytes(8), None, "audio/mp4"),
    (bytes(4) + b"ftypqt  " + bytes(8), None, "video/quicktime"),
    (b"\x1a\x45\xdf\xa3" + bytes(20), None, "video/webm"),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", None, "audio/wav"),
    (b"PK\x03\x04" + bytes(30), "report.docx",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"PK\x03\x04" + bytes(30), None, "application/zip"),
    (b"plain words", "notes.txt", "text/plain"),
    (os.urandom(64).replace(b"\xff", b"\x00"), None, None),
])
def test_mimetype_from_content(data: bytes, name: str | None, expected: str | None) -> None:
    assert sniff_mimetype(data, name) == expected


def test_image_dimensions() -> None:
    assert image_size(png(40, 30)) == (40, 30)
    assert image_size(jpeg_header(640, 480)) == (640, 480)
    assert image_size(b"GIF89a" + (300).to_bytes(2, "little") + (200).to_bytes(2, "little") + bytes(10)) == (300, 200)
    assert image_size(webp(512, 256)) == (512, 256)
    assert image_size(b"not an image at all") is None
    assert image_size(png()[:20]) is None  # truncated header


def test_jpeg_dimensions_after_large_segments() -> None:
    exif = b"\xff\xe1" + (60000).to_bytes(2, "big") + os.urandom(59998)
    data = jpeg_header(1920, 1080)
    assert image_size(data[:2] + exif + data[2:]) == (1920, 1080)


def test_webp_vp8_and_vp8l_headers() -> None:
    vp8 = b"RIFF\x00\x00\x00\x00WEBPVP8 \x00\x00\x00\x00" + bytes(3) + b"\x9d\x01\x2a" + (320).to_bytes(2, "little") \
        + (240).to_bytes(2, "little")
    assert image_size(vp8) == (320, 240)
    bits = (100 - 1) | ((50 - 1) << 14)
    vp8l = b"RIFF\x00\x00\x00\x00WEBPVP8L\x00\x00\x00\x00\x2f" + bits.to_bytes(4, "little")
    assert image_size(vp8l) == (100, 50)


def test_animated_webp() -> None:
    assert webp_animated(webp(animated=True))
    assert not webp_animated(webp(animated=False))
    assert not webp_animated(png())


def test_durations() -> None:
    opus = ogg_opus(7)
    assert media_seconds(opus[:4096], opus[-4096:]) == 7
    video = mp4(12)
    assert media_seconds(video, video) == 12
    assert media_seconds(b"nothing", b"here") is None


def test_pdf_pages_counted_across_chunk_borders() -> None:
    document = pdf(9)
    for size in (1, 7, 13, 64, len(document)):
        counter = PdfPageCounter()
        for start in range(0, len(document), size):
            counter.update(document[start:start + size])
        assert counter.finish() == 9, size
    empty = PdfPageCounter()
    empty.update(b"%PDF-1.4 no pages")
    assert empty.finish() is None
