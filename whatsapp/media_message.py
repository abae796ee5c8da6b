"""What a media message carries: its kind and description (`MediaInfo`), and what a download needs
(`Downloadable`). Pure functions over the `Message` protobuf (docs/architecture.md §Media).

    info = media_info(event.message)          # MediaInfo(type="image", mimetype="image/jpeg", size=..., ...)
    item = downloadable(event.message)        # direct path, keys and hashes for whatsapp/download.py

Kinds are what WhatsApp shows: image, video (also GIFs, `gif=True`), audio (voice notes: `ptt=True`),
document and sticker. The media type that picks the HKDF keys and the upload path follows Baileys
`src/Defaults/index.ts` (MEDIA_HKDF_KEY_MAPPING, MEDIA_PATH_MAP) and whatsmeow `download.go`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from whatsapp.proto import e2e_pb2

if TYPE_CHECKING:  # annotations only: events.py imports this module
    from whatsapp.events import MessageReceived

MediaKind = Literal["image", "video", "audio", "document", "sticker"]

# Message field -> kind (ptvMessage is a round video note: a video).
MEDIA_FIELDS: dict[str, MediaKind] = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
# Kind -> the `/mms/<type>` path segment and `mms-type` parameter (a sticker is an image there).
MMS_TYPES: dict[str, str] = {"image": "image", "sticker": "image", "video": "video", "gif": "video", "ptv": "video",
                             "audio": "audio", "ptt": "audio", "document": "document", "md-msg-hist": "md-msg-hist",
                             "md-app-state": "md-app-state"}
_VIEW_ONCE_WRAPPERS = ("viewOnceMessage", "viewOnceMessageV2", "viewOnceMessageV2Extension")
_OUTER_WRAPPERS = ("ephemeralMessage", "documentWithCaptionMessage")

MediaMessage = (e2e_pb2.ImageMessage | e2e_pb2.VideoMessage | e2e_pb2.AudioMessage | e2e_pb2.DocumentMessage
                | e2e_pb2.StickerMessage)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """A received attachment, as a plugin sees it (`message.media`)."""

    type: MediaKind
    mimetype: str | None
    size: int | None  # bytes of the plaintext (fileLength), when the sender said
    caption: str | None = None
    file_name: str | None = None  # documents
    width: int | None = None
    height: int | None = None
    seconds: int | None = None  # audio and video
    ptt: bool = False  # a voice note
    gif: bool = False  # a video played as a GIF
    animated: bool = False  # an animated sticker
    page_count: int | None = None  # documents
    view_once: bool = False


@dataclass(frozen=True, slots=True)
class Downloadable:
    """Everything a download needs: where (direct path, url), the keys and the two hashes."""

    media_type: str  # the HKDF/media type: "image", "sticker", "video", "audio", "document", "md-msg-hist", ...
    direct_path: str | None
    url: str | None
    media_key: bytes
    file_enc_sha256: bytes | None
    file_sha256: bytes | None
    file_length: int | None

    def __repr__(self) -> str:  # the media key is a secret
        return f"Downloadable({self.media_type}, {self.direct_path or self.url}, {self.file_length} bytes)"

    def with_direct_path(self, direct_path: str) -> Downloadable:
        """The same media at a new path (after the phone uploaded it again)."""
        return Downloadable(self.media_type, direct_path, None, self.media_key, self.file_enc_sha256,
                            self.file_sha256, self.file_length)

    @property
    def mms_type(self) -> str:
        return MMS_TYPES.get(self.media_type, self.media_type)


def find_media(message: e2e_pb2.Message) -> tuple[str, MediaMessage] | None:
    """The (field name, sub-message) of the attachment in an unwrapped message, if it has one."""
    for name in MEDIA_FIELDS:
        if message.HasField(name):
            media: MediaMessage = getattr(message, name)
            return name, media
    return None


def is_view_once(message: e2e_pb2.Message) -> bool:
    """A view-once message: a view-once wrapper (also inside an ephemeral one), or the media's own flag
    (whatsmeow's senders set both)."""
    for _ in range(4):
        if any(message.HasField(name) for name in _VIEW_ONCE_WRAPPERS):
            return True
        outer = next((name for name in _OUTER_WRAPPERS if message.HasField(name)), None)
        if outer is None:
            break
        message = getattr(message, outer).message
    found = find_media(message)
    return found is not None and bool(getattr(found[1], "viewOnce", False))


def _optional(media: MediaMessage, name: str) -> int | None:
    if not hasattr(media, name) or not media.HasField(name):
        return None
    value: int = getattr(media, name)
    return value


def media_info(message: e2e_pb2.Message, *, view_once: bool = False) -> MediaInfo | None:
    found = find_media(message)
    if found is None:
        return None
    name, media = found
    kind = MEDIA_FIELDS[name]
    caption = media.caption if hasattr(media, "caption") and media.HasField("caption") else None
    return MediaInfo(
        type=kind,
        mimetype=media.mimetype or None,
        size=_optional(media, "fileLength"),
        caption=caption,
        file_name=media.fileName or None if isinstance(media, e2e_pb2.DocumentMessage) else None,
        width=_optional(media, "width"),
        height=_optional(media, "height"),
        seconds=_optional(media, "seconds"),
        ptt=isinstance(media, e2e_pb2.AudioMessage) and media.PTT,
        gif=isinstance(media, e2e_pb2.VideoMessage) and media.gifPlayback,
        animated=isinstance(media, e2e_pb2.StickerMessage) and media.isAnimated,
        page_count=_optional(media, "pageCount"),
        view_once=view_once or is_view_once(message),
    )


def downloadable(message: e2e_pb2.Message) -> Downloadable | None:
    """The download of the attachment in an unwrapped message; None when it has none (or no key)."""
    found = find_media(message)
    if found is None:
        return None
    name, media = found
    if not media.mediaKey or not (media.directPath or media.URL):
        return None
    return Downloadable(
        media_type=MEDIA_FIELDS[name] if name != "ptvMessage" else "ptv",
        direct_path=media.directPath or None,
        url=media.URL or None,
        media_key=media.mediaKey,
        file_enc_sha256=media.fileEncSHA256 or None,
        file_sha256=media.fileSHA256 or None,
        file_length=media.fileLength if media.HasField("fileLength") else None,
    )


class MediaDownloads(Protocol):
    """What `MessageReceived.download` asks of the client (whatsapp/media_service.py implements it)."""

    async def download_message(self, message: MessageReceived, path: Path | str | None) -> bytes | Path: ...
