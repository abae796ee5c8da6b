"""Sending media: describe the file (mimetype, dimensions, duration, pages), upload it, build the message
(Baileys `src/Utils/messages.ts` prepareWAMessageMedia, whatsmeow `upload.go`; docs/architecture.md §Media).

    await client.send_image(chat, "cat.png", caption="a cat")          # Client delegates here
    await client.send_voice(chat, ogg_bytes)                             # ptt, seconds from the Ogg stream
    await client.send_document(chat, Path("report.pdf"))                 # fileName, mimetype, pageCount

What the caller leaves out is found in the file's bytes (whatsapp/media_sniff.py): the mimetype, an image's
or sticker's width and height, a sticker's animation, the seconds of an Ogg or MP4 file, a PDF's page
count. A JPEG thumbnail is added to images when Pillow is installed (optional, never required). A
view-once message is wrapped in `viewOnceMessage` with the inner `viewOnce` flag set, as both Baileys and
whatsmeow read it. Only the head and tail of a file are read for this; the upload streams the rest.
"""

from __future__ import annotations

import dataclasses
import importlib
import io
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from loguru import logger

from whatsapp.compose import quote_into
from whatsapp.events import MessageReceived
from whatsapp.jid import JID
from whatsapp.media_message import MediaKind
from whatsapp.media_sniff import (
    HEAD_BYTES,
    OPUS_OGG,
    TAIL_BYTES,
    PdfPageCounter,
    image_size,
    media_seconds,
    sniff_mimetype,
    webp_animated,
)
from whatsapp.messages import SendResult
from whatsapp.proto import e2e_pb2
from whatsapp.upload import MediaSource, MediaUploader, UploadResult, source_chunks

DEFAULT_MIMETYPES: dict[str, str] = {  # Baileys MIMETYPE_MAP, for content nothing recognises
    "image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg; codecs=opus",
    "document": "application/octet-stream", "sticker": "image/webp",
}
THUMBNAIL_WIDTH = 32  # Baileys extractImageThumb's default
THUMBNAIL_MAX_SOURCE = 32 * 1024 * 1024  # decoding a larger image for a thumbnail costs too much memory
PDF_SCAN_LIMIT = 64 * 1024 * 1024  # pages are counted in files up to this size

class SendMessage(Protocol):
    """`Client.send_message`, as the media sender uses it."""

    async def __call__(self, jid: JID, message: e2e_pb2.Message, *, message_id: str | None = None) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class MediaSpec:
    """What to send; None fields are filled from the content where it tells them."""

    kind: MediaKind
    caption: str | None = None
    mimetype: str | None = None
    file_name: str | None = None  # documents (default: the path's name, else "file")
    ptt: bool = False  # audio: a voice note
    gif: bool = False  # video: played as a GIF
    seconds: int | None = None
    waveform: bytes | None = None  # voice notes: 64 samples of 0..100
    width: int | None = None
    height: int | None = None
    animated: bool | None = None  # stickers
    page_count: int | None = None
    thumbnail: bytes | None = None  # a small JPEG
    view_once: bool = False


@dataclass(frozen=True, slots=True)
class Probe:
    head: bytes
    tail: bytes
    size: int
    name: str | None


def probe(source: MediaSource) -> Probe:
    """The first and last bytes of the source, and its size, without reading the middle of a file."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source[:HEAD_BYTES]), bytes(source[-TAIL_BYTES:])
        return Probe(data[0], data[1], len(source), None)
    path = Path(source)
    size = path.stat().st_size
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
        file.seek(max(0, size - TAIL_BYTES))
        tail = file.read(TAIL_BYTES)
    return Probe(head, tail, size, path.name)


def _jpeg_thumbnail(source: MediaSource, size: int) -> bytes | None:
    """A THUMBNAIL_WIDTH-wide JPEG, when Pillow is installed and can read the image; else None."""
    if size > THUMBNAIL_MAX_SOURCE:
        return None
    try:
        pillow = importlib.import_module("PIL.Image")  # optional: imported by name so it is never required
    except ImportError:
        return None
    try:
        raw = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()
        with pillow.open(io.BytesIO(raw)) as image:
            image.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 16))
            out = io.BytesIO()
            image.convert("RGB").save(out, "JPEG", quality=50)
            thumbnail: bytes = out.getvalue()
            return thumbnail
    except Exception as exc:  # Pillow raises many kinds; a thumbnail is never worth failing a send
        logger.debug("no thumbnail: Pillow could not read the image ({})", exc)
        return None


def _pdf_pages(source: MediaSource, size: int) -> int | None:
    if size > PDF_SCAN_LIMIT:
        return None
    counter = PdfPageCounter()
    for chunk in source_chunks(source, 1024 * 1024):
        counter.update(bytes(chunk))
    return counter.finish()


def complete(spec: MediaSpec, source: MediaSource, found: Probe) -> MediaSpec:
    """The spec with what the content tells filled in (nothing the caller gave is overridden)."""
    mimetype = spec.mimetype or sniff_mimetype(found.head, spec.file_name or found.name) or DEFAULT_MIMETYPES[spec.kind]
    if spec.kind == "audio" and spec.ptt and mimetype.startswith("audio/ogg"):
        mimetype = OPUS_OGG  # WhatsApp plays voice notes labelled exactly so
    width, height = spec.width, spec.height
    if spec.kind in ("image", "sticker") and (width is None or height is None):
        width, height = image_size(found.head) or (width, height)
    animated = spec.animated
    if spec.kind == "sticker" and animated is None:
        animated = webp_animated(found.head)
    seconds = spec.seconds
    if spec.kind in ("audio", "video") and seconds is None:
        seconds = media_seconds(found.head, found.tail)
    file_name, page_count = spec.file_name, spec.page_count
    if spec.kind == "document":
        file_name = file_name or found.name or "file"
        if page_count is None and mimetype == "application/pdf":
            page_count = _pdf_pages(source, found.size)
    thumbnail = spec.thumbnail
    if spec.kind == "image" and thumbnail is None:
        thumbnail = _jpeg_thumbnail(source, found.size)
    return dataclasses.replace(spec, mimetype=mimetype, width=width, height=height, animated=animated,
                               seconds=seconds, file_name=file_name, page_count=page_count, thumbnail=thumbnail)


def upload_type(spec: MediaSpec) -> str:
    """The media type of the upload (HKDF keys and `/mms/<type>` path): the kind itself."""
    return spec.kind


def build_message(spec: MediaSpec, upload: UploadResult, quoted: MessageReceived | None = None,
                  now: int | None = None) -> e2e_pb2.Message:
    """The `Message` for an uploaded file, described by a completed spec."""
    message = e2e_pb2.Message()
    stamp = now if now is not None else int(time.time())
    media: e2e_pb2.ImageMessage | e2e_pb2.VideoMessage | e2e_pb2.AudioMessage | e2e_pb2.DocumentMessage \
        | e2e_pb2.StickerMessage
    if spec.kind == "image":
        media = message.imageMessage
    elif spec.kind == "video":
        media = message.videoMessage
        media.gifPlayback = spec.gif
    elif spec.kind == "audio":
        media = message.audioMessage
        media.PTT = spec.ptt
        if spec.waveform is not None:
            media.waveform = spec.waveform
    elif spec.kind == "document":
        media = message.documentMessage
        media.fileName = spec.file_name or "file"
        media.title = spec.file_name or "file"
        if spec.page_count:
            media.pageCount = spec.page_count
    else:
        media = message.stickerMessage
        media.isAnimated = bool(spec.animated)
    media.URL = upload.url
    media.directPath = upload.direct_path
    media.mediaKey = upload.media_key
    media.fileSHA256 = upload.file_sha256
    media.fileEncSHA256 = upload.file_enc_sha256
    media.fileLength = upload.file_length
    media.mediaKeyTimestamp = stamp
    media.mimetype = spec.mimetype or DEFAULT_MIMETYPES[spec.kind]
    if spec.caption and not isinstance(media, (e2e_pb2.AudioMessage, e2e_pb2.StickerMessage)):
        media.caption = spec.caption
    if spec.width and spec.height and not isinstance(media, (e2e_pb2.AudioMessage, e2e_pb2.DocumentMessage)):
        media.width, media.height = spec.width, spec.height
    if spec.seconds is not None and isinstance(media, (e2e_pb2.AudioMessage, e2e_pb2.VideoMessage)):
        media.seconds = spec.seconds
    if spec.thumbnail and isinstance(media, (e2e_pb2.ImageMessage, e2e_pb2.VideoMessage, e2e_pb2.DocumentMessage)):
        media.JPEGThumbnail = spec.thumbnail
    if quoted is not None:
        quote_into(media.contextInfo, quoted)
    if spec.view_once and isinstance(media, (e2e_pb2.ImageMessage, e2e_pb2.VideoMessage, e2e_pb2.AudioMessage)):
        media.viewOnce = True
        wrapped = e2e_pb2.Message()
        wrapped.viewOnceMessage.message.CopyFrom(message)
        return wrapped
    return message


class MediaSender:
    """Describe, upload, build, send: what every `Client.send_<kind>` does."""

    def __init__(self, uploader: MediaUploader, send: SendMessage) -> None:
        self.uploader = uploader
        self._send = send

    async def send(self, chat: JID, source: MediaSource, spec: MediaSpec, quoted: MessageReceived | None = None,
                   message_id: str | None = None) -> SendResult:
        return await self._send(chat, await self.prepare(source, spec, quoted), message_id=message_id)

    async def prepare(self, source: MediaSource, spec: MediaSpec,
                      quoted: MessageReceived | None = None) -> e2e_pb2.Message:
        """The uploaded media's `Message`, for a sender other than the chat send (an image status)."""
        if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
            raise FileNotFoundError(f"no such file to send: {source}")
        found = probe(source)
        if found.size == 0:
            raise ValueError("an empty file cannot be sent as media")
        spec = complete(spec, source, found)
        upload = await self.uploader.upload(source, upload_type(spec))
        return build_message(spec, upload, quoted)
