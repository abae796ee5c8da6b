"""Every media type both ways between our client and real Baileys 7 and 6, through the emulator's HTTPS media
hosts: Baileys uploads and we download byte-identical with every check; we upload and Baileys downloads
and decrypts byte-identical. Baileys trusts the emulator's media CA through NODE_EXTRA_CA_CERTS
(whatsapp/testing/media_tls.py); Baileys 6 fetches from mmg.whatsapp.net, which its harness connects to the
emulator (tests/node/baileys_harness.mjs, MEDIA_HOST)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.media_support import baileys_with_media, mp4, ogg_opus, pdf, png, webp, write
from whatsapp.messages import SendResult
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import HarnessFactory
from whatsapp.testing.harness.peers import PyPeer, paired_python, pn

pytestmark = [pytest.mark.node, pytest.mark.slow]

FLAVOURS = {"b7": "baileys", "b6": "@whiskeysockets/baileys"}

# What Baileys sends: (name, harness arguments, file bytes, what our MediaInfo must say).
BAILEYS_SENDS: list[tuple[str, dict[str, object], bytes, dict[str, object]]] = [
    ("image", {"kind": "image", "caption": "a png", "mimetype": "image/png"}, png(60, 40),
     {"type": "image", "mimetype": "image/png", "caption": "a png"}),
    ("video", {"kind": "video", "caption": "a clip", "seconds": 4}, mp4(4),
     {"type": "video", "mimetype": "video/mp4", "caption": "a clip", "seconds": 4, "gif": False}),
    ("gif", {"kind": "video", "gifPlayback": True, "seconds": 2}, mp4(2), {"type": "video", "gif": True}),
    ("audio", {"kind": "audio", "seconds": 3, "mimetype": "audio/mp4"}, mp4(3),
     {"type": "audio", "ptt": False, "seconds": 3, "mimetype": "audio/mp4"}),
    ("voice", {"kind": "audio", "ptt": True, "seconds": 5, "mimetype": "audio/ogg; codecs=opus"}, ogg_opus(5),
     {"type": "audio", "ptt": True, "seconds": 5, "mimetype": "audio/ogg; codecs=opus"}),
    ("document", {"kind": "document", "fileName": "report.pdf", "mimetype": "application/pdf"}, pdf(3),
     {"type": "document", "file_name": "report.pdf", "mimetype": "application/pdf"}),
    ("sticker", {"kind": "sticker"}, webp(512, 512, animated=True), {"type": "sticker", "mimetype": "image/webp"}),
    ("view-once", {"kind": "image", "viewOnce": True, "mimetype": "image/png"}, png(20, 20),
     {"type": "image", "view_once": True}),
]


@pytest.mark.parametrize("flavour", ["b7", "b6"])
async def test_baileys_sends_every_type_and_we_download_it_byte_identical(
        emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, flavour: str) -> None:
    ours = await paired_python(emulator, name="py")
    baileys = await baileys_with_media(emulator, make_baileys, tmp_path, "alice", FLAVOURS[flavour])
    for name, arguments, data, expected in BAILEYS_SENDS:
        path = write(tmp_path, f"out-{name}", data)
        sent = await baileys.command("send_media", jid=pn("py"), path=str(path), timeout=60, **arguments)
        message = await ours.message(sent["id"])
        media = message.media
        assert media is not None, name
        for field, value in expected.items():
            assert getattr(media, field) == value, (name, field, media)
        assert media.size == len(data), name
        assert await message.download() == data, name
        target = tmp_path / f"in-{name}"
        assert await message.download(target) == target and target.read_bytes() == data, name
    await ours.close()


async def _send_all(ours: PyPeer, tmp_path: Path) -> list[tuple[str, SendResult, bytes, dict[str, object]]]:
    client = ours.client
    to = pn("alice")
    document = pdf(4)
    sends: list[tuple[str, Callable[[], Awaitable[SendResult]], bytes, dict[str, object]]] = []
    image = png(64, 48)
    sends.append(("image", lambda: client.send_image(to, image, caption="from python"), image,
                  {"kind": "image", "mimetype": "image/png", "caption": "from python", "width": 64, "height": 48}))
    video = mp4(6)
    sends.append(("video", lambda: client.send_video(to, write(tmp_path, "v.mp4", video), caption="clip"), video,
                  {"kind": "video", "mimetype": "video/mp4", "seconds": 6, "gifPlayback": False, "caption": "clip"}))
    gif = mp4(2)
    sends.append(("gif", lambda: client.send_video(to, gif, gif=True), gif, {"kind": "video", "gifPlayback": True}))
    audio = mp4(3)
    sends.append(("audio", lambda: client.send_audio(to, audio, mimetype="audio/mp4"), audio,
                  {"kind": "audio", "ptt": False, "seconds": 3, "mimetype": "audio/mp4"}))
    voice = ogg_opus(9)
    sends.append(("voice", lambda: client.send_voice(to, voice, waveform=bytes(range(64))), voice,
                  {"kind": "audio", "ptt": True, "seconds": 9, "mimetype": "audio/ogg; codecs=opus"}))
    sends.append(("document", lambda: client.send_document(to, write(tmp_path, "report.pdf", document)), document,
                  {"kind": "document", "fileName": "report.pdf", "mimetype": "application/pdf", "pageCount": 4}))
    sticker = webp(512, 512, animated=True)
    sends.append(("sticker", lambda: client.send_sticker(to, sticker), sticker,
                  {"kind": "sticker", "mimetype": "image/webp", "isAnimated": True, "width": 512, "height": 512}))
    once = png(10, 10)
    sends.append(("view-once", lambda: client.send_image(to, once, view_once=True), once,
                  {"kind": "image", "viewOnce": True}))
    return [(name, await send(), data, expected) for name, send, data, expected in sends]


@pytest.mark.parametrize("flavour", ["b7", "b6"])
async def test_we_send_every_type_and_baileys_downloads_it_byte_identical(
        emulator: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, flavour: str) -> None:
    ours = await paired_python(emulator, name="py")
    baileys = await baileys_with_media(emulator, make_baileys, tmp_path, "alice", FLAVOURS[flavour])
    for name, result, data, expected in await _send_all(ours, tmp_path):
        event = await baileys.wait_for("message", lambda e, i=result.id: e["id"] == i and not e["fromMe"])
        summary = event["media"]
        assert summary is not None, (name, event)
        for field, value in expected.items():
            assert summary[field] == value, (name, field, summary)
        assert summary["fileLength"] == len(data) and summary["fileSha256"] == hashlib.sha256(data).hexdigest()
        got = await baileys.command("download_media", id=result.id, path=str(tmp_path / f"b-{name}"), timeout=60)
        assert got["sha256"] == hashlib.sha256(data).hexdigest() and got["size"] == len(data), name
        assert (tmp_path / f"b-{name}").read_bytes() == data, name
    await ours.close()
