"""Small, well-formed media files built in code (no binary fixtures, no imaging library), and helpers.

Each sample is what its headers say it is: a PNG that decodes, a WebP with a real VP8X/VP8L header, an Ogg
Opus stream whose last page gives its length, an MP4 whose `mvhd` gives its length, a PDF with N pages.
Random payload bytes make every file unique, so a byte-identical check means something.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import BaileysHarness, HarnessFactory, pair_baileys_by_qr
from whatsapp.testing.harness.peers import PEOPLE


def png(width: int = 40, height: int = 30) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def jpeg_header(width: int = 64, height: int = 48) -> bytes:
    """SOI, an APP0 segment, a DQT-like segment and a baseline SOF0: enough for header parsing."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + os.urandom(64)
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + dqt + sof + b"\xff\xda" + os.urandom(100) + b"\xff\xd9"


def webp(width: int = 512, height: int = 512, animated: bool = False) -> bytes:
    """An extended-format WebP (VP8X) with the animation flag when `animated`, plus a payload chunk."""
    flags = 0x02 if animated else 0x00
    vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    payload = os.urandom(2000)
    chunks = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    kind = b"ANMF" if animated else b"VP8L"
    chunks += kind + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks


def _ogg_page(granule: int, sequence: int, payload: bytes, flags: int = 0) -> bytes:
    segments = [255] * (len(payload) // 255) + [len(payload) % 255]
    header = b"OggS" + bytes([0, flags]) + struct.pack("<qIII", granule, 0x1234, sequence, 0)
    return header + bytes([len(segments)]) + bytes(segments) + payload


def ogg_opus(seconds: int = 3) -> bytes:
    pre_skip = 312
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", pre_skip, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    body = _ogg_page(0, 0, head, 0x02) + _ogg_page(0, 1, tags)
    body += _ogg_page(24000, 2, os.urandom(3000))
    return body + _ogg_page(seconds * 48000 + pre_skip, 3, os.urandom(2000), 0x04)


def mp4(seconds: int = 4) -> bytes:
    def box(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", 8 + len(data)) + kind + data

    mvhd = bytes(4) + struct.pack(">IIII", 0, 0, 1000, seconds * 1000) + os.urandom(80)
    return box(b"ftyp", b"isom" + bytes(4) + b"isomiso2mp41") + box(b"moov", box(b"mvhd", mvhd)) \
        + box(b"mdat", os.urandom(20000))


def pdf(pages: int = 3) -> bytes:
    objects = [b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj",
               b"2 0 obj << /Type /Pages /Count %d >> endobj" % pages]
    objects += [b"%d 0 obj << /Type /Page /Parent 2 0 R >> endobj" % (3 + i) for i in range(pages)]
    return b"%PDF-1.4\n" + b"\n".join(objects) + b"\n%" + os.urandom(500).hex().encode() + b"\n%%EOF\n"


def write(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    return path


async def baileys_with_media(server: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, name: str,
                             flavour: str) -> BaileysHarness:
    """A Baileys harness paired to PEOPLE[name], trusting the emulator's media hosts (NODE_EXTRA_CA_CERTS)."""
    phone, push_name = PEOPLE[name]
    if phone not in server.state.accounts:
        server.create_account(phone, push_name=push_name)
    harness = await make_baileys(server, tmp_path / name, flavour=flavour, media_ca=server.media.tls.ca_path,
                                 media_host=server.media.hostnames[0])
    await pair_baileys_by_qr(server, harness, phone)
    return harness
