"""Building media messages (whatsapp/media_send.py) without a network: what is read from the content, what the
caller's values override, the view-once wrapper, the quote, and the optional Pillow thumbnail."""

from __future__ import annotations

import io
import sys
import types
from pathlib import Path

import pytest

from tests.media_support import mp4, ogg_opus, pdf, png, webp
from whatsapp.compose import stanza_type
from whatsapp.jid import JID
from whatsapp.media_message import downloadable, is_view_once, media_info
from whatsapp.media_send import MediaSpec, build_message, complete, probe
from whatsapp.messages import MessageReceived
from whatsapp.proto import e2e_pb2
from whatsapp.upload import UploadResult

UPLOAD = UploadResult("image", "https://h/v/x?a=1&mms3=true", "/v/x?a=1", "handle", b"K" * 32, b"P" * 32,
                      b"E" * 32, 1234)


def completed(kind: str, data: bytes, **given: object) -> MediaSpec:
    return complete(MediaSpec(kind, **given), data, probe(data))  # type: ignore[arg-type]  # test values


def test_what_the_content_tells() -> None:
    image = completed("image", png(33, 22))
    assert (image.mimetype, image.width, image.height) == ("image/png", 33, 22)
    sticker = completed("sticker", webp(256, 128, animated=True))
    assert (sticker.mimetype, sticker.width, sticker.height, sticker.animated) == ("image/webp", 256, 128, True)
    voice = completed("audio", ogg_opus(4), ptt=True)
    assert (voice.mimetype, voice.seconds) == ("audio/ogg; codecs=opus", 4)
    video = completed("video", mp4(8))
    assert (video.mimetype, video.seconds) == ("video/mp4", 8)
    document = completed("document", pdf(5))
    assert (document.mimetype, document.page_count, document.file_name) == ("application/pdf", 5, "file")
    unknown = completed("document", b"\x00\x01 unknown")
    assert unknown.mimetype == "application/octet-stream"


def test_the_callers_values_win(tmp_path: Path) -> None:
    spec = completed("image", png(10, 10), mimetype="image/x-custom", width=1, height=2)
    assert (spec.mimetype, spec.width, spec.height) == ("image/x-custom", 1, 2)
    path = tmp_path / "notes.pdf"
    path.write_bytes(pdf(2))
    named = complete(MediaSpec("document"), path, probe(path))
    assert (named.file_name, named.page_count) == ("notes.pdf", 2)
    assert complete(MediaSpec("document", file_name="x.pdf"), path, probe(path)).file_name == "x.pdf"


def test_built_messages_carry_the_upload_and_the_description() -> None:
    message = build_message(MediaSpec("audio", ptt=True, seconds=3, waveform=b"\x01" * 64,
                                      mimetype="audio/ogg; codecs=opus"), UPLOAD, now=1700000000)
    audio = message.audioMessage
    assert (audio.URL, audio.directPath, audio.mediaKey, audio.fileSHA256, audio.fileEncSHA256) == (
        UPLOAD.url, UPLOAD.direct_path, UPLOAD.media_key, UPLOAD.file_sha256, UPLOAD.file_enc_sha256)
    assert (audio.fileLength, audio.mediaKeyTimestamp, audio.PTT, audio.seconds) == (1234, 1700000000, True, 3)
    assert stanza_type(message) == "media"
    item = downloadable(message)
    assert item is not None and item.media_type == "audio" and item.mms_type == "audio"
    info = media_info(message)
    assert info is not None and info.ptt and info.seconds == 3


def test_view_once_is_wrapped_and_flagged_and_still_a_media_stanza() -> None:
    message = build_message(MediaSpec("image", caption="once", view_once=True, mimetype="image/png"), UPLOAD)
    assert message.HasField("viewOnceMessage") and message.viewOnceMessage.message.imageMessage.viewOnce
    assert is_view_once(message) and stanza_type(message) == "media"
    ephemeral = e2e_pb2.Message()
    ephemeral.ephemeralMessage.message.CopyFrom(message)
    assert is_view_once(ephemeral)
    assert not is_view_once(build_message(MediaSpec("image", mimetype="image/png"), UPLOAD))


def test_a_media_reply_quotes_the_message() -> None:
    quoted_message = e2e_pb2.Message(conversation="hi")
    quoted = MessageReceived(chat=JID.parse("1@g.us"), sender=JID.parse("5:2@s.whatsapp.net"), id="Q1", timestamp=0,
                             push_name=None, from_me=False, is_group=True, offline=False, message=quoted_message)
    message = build_message(MediaSpec("document", file_name="a.txt", mimetype="text/plain"), UPLOAD, quoted)
    context = message.documentMessage.contextInfo
    assert (context.stanzaID, context.participant, context.remoteJID) == ("Q1", "5@s.whatsapp.net", "1@g.us")
    assert context.quotedMessage.conversation == "hi"


class _FakeImage:
    def __init__(self) -> None:
        self.size = (10, 10)

    def __enter__(self) -> _FakeImage:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def thumbnail(self, size: tuple[int, int]) -> None:
        self.size = size

    def convert(self, mode: str) -> _FakeImage:
        return self

    def save(self, out: io.BytesIO, kind: str, quality: int) -> None:
        out.write(b"\xff\xd8fake-jpeg")


def test_a_thumbnail_when_pillow_is_there_and_none_when_it_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)  # no Pillow: no thumbnail, no error
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    assert completed("image", png()).thumbnail is None
    fake = types.ModuleType("PIL.Image")
    fake.open = lambda _file: _FakeImage()  # type: ignore[attr-defined]  # the one function used
    monkeypatch.setitem(sys.modules, "PIL.Image", fake)
    spec = completed("image", png())
    assert spec.thumbnail == b"\xff\xd8fake-jpeg"
    assert build_message(spec, UPLOAD).imageMessage.JPEGThumbnail == b"\xff\xd8fake-jpeg"

    def broken(_file: object) -> None:
        raise OSError("cannot identify image file")

    fake.open = broken  # type: ignore[attr-defined]  # Pillow failing on odd content: the send goes on
    assert completed("image", png()).thumbnail is None
