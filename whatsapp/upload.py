"""Uploading media: encrypted while it is sent, to the `media_conn` hosts in order (whatsmeow `upload.go`,
Baileys `src/Utils/messages-media.ts` getWAUploadToServer; docs/protocol.md §Media transfer).

    result = await uploader.upload(Path("report.pdf"), "document")
    result.url, result.direct_path, result.media_key, result.file_sha256, result.file_enc_sha256, ...

`POST https://<host>/mms/<type>/<token>?auth=<auth>&token=<token>`, token = unpadded base64url of the
body's SHA-256, so the hash must be known before the first byte leaves. Instead of a temporary file
(Baileys, whatsmeow's UploadReader) the source is read twice: a first pass hashes the encrypted body and
the second encrypts it again, chunk by chunk, as aiohttp sends it. The media key fixes the IV, so both
passes give the same bytes (checked at the end: a file changed meanwhile fails the upload). Memory stays
at a few chunks whatever the size.

A host that refuses the token (401/403) gets one more try with a fresh `media_conn`; any other failure
moves on to the next host; `MediaUploadError` when none took it.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import aiohttp
from loguru import logger

from whatsapp.errors import MediaUploadError
from whatsapp.media_http import MediaHttp
from whatsapp.media_message import MMS_TYPES
from whatsapp.media_stream import MediaEncryptor
from whatsapp.mediaconn import MediaConn, MediaConnCache

MediaSource = bytes | bytearray | memoryview | Path | str  # bytes, or the path of a file


@dataclass(frozen=True, slots=True)
class UploadResult:
    """What a media message needs from its upload."""

    media_type: str
    url: str
    direct_path: str
    handle: str | None
    media_key: bytes
    file_sha256: bytes
    file_enc_sha256: bytes
    file_length: int

    def __repr__(self) -> str:  # the media key is a secret
        return f"UploadResult({self.media_type}, {self.direct_path}, {self.file_length} bytes)"


def source_chunks(source: MediaSource, chunk_size: int) -> Iterator[bytes | memoryview]:
    """The source in chunks, read lazily (a path is opened for each pass)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        for start in range(0, len(view), chunk_size):
            yield view[start:start + chunk_size]
        return
    with open(source, "rb") as file:
        while chunk := file.read(chunk_size):
            yield chunk


def upload_token(file_enc_sha256: bytes) -> str:
    return base64.urlsafe_b64encode(file_enc_sha256).decode().rstrip("=")


def upload_url(hostname: str, mms_type: str, token: str, auth: str) -> str:
    return f"https://{hostname}/mms/{mms_type}/{token}?auth={quote(auth, safe='')}&token={token}"


class _Refused(Exception):
    """The host refused the auth token (401/403): try it again with a fresh one."""


class MediaUploader:
    def __init__(self, http: MediaHttp, conns: MediaConnCache) -> None:
        self.http = http
        self.conns = conns
        self.uploads = 0
        self.bytes = 0

    async def upload(self, source: MediaSource, media_type: str) -> UploadResult:
        chunk_size = self.http.options.chunk_size
        first = MediaEncryptor(media_type)
        for chunk in source_chunks(source, chunk_size):
            first.update(chunk)
        first.finish()
        mms_type = MMS_TYPES.get(media_type, media_type)
        token = upload_token(first.file_enc_sha256)
        conn = await self.conns.get()
        last: MediaUploadError | None = None
        for host in conn.hosts:
            if host.max_content_length is not None and first.body_length > host.max_content_length:
                last = MediaUploadError(f"{host.hostname} takes at most {host.max_content_length} bytes")
                continue
            for attempt in (1, 2):
                try:
                    answer = await self._post(source, first, host.hostname, mms_type, token, conn)
                except _Refused:
                    if attempt == 1:
                        logger.info("media host {} refused the upload token; asking for a new one", host.hostname)
                        conn = await self.conns.get(force=True)
                        continue
                    last = MediaUploadError(f"{host.hostname} refused the upload token twice", 401)
                except MediaUploadError as exc:
                    last = exc
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last = MediaUploadError(f"{host.hostname}: {type(exc).__name__}: {exc}")
                else:
                    self.uploads += 1
                    self.bytes += first.file_length
                    logger.info("media {} uploaded: {} bytes to {}", media_type, first.file_length, host.hostname)
                    return UploadResult(media_type, answer[0], answer[1], answer[2], first.media_key,
                                        first.file_sha256, first.file_enc_sha256, first.file_length)
                break
            logger.warning("media upload to {} failed ({}); trying the next host", host.hostname, last)
        assert last is not None
        logger.warning("media {} upload failed on every host: {}", media_type, last)
        raise last

    async def _post(self, source: MediaSource, first: MediaEncryptor, hostname: str, mms_type: str, token: str,
                    conn: MediaConn) -> tuple[str, str, str | None]:
        second = MediaEncryptor(first.media_type, first.media_key)
        chunk_size = self.http.options.chunk_size

        async def body() -> AsyncIterator[bytes]:
            for chunk in source_chunks(source, chunk_size):
                out = second.update(chunk)
                if out:
                    yield out
            yield second.finish()

        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(first.body_length)}
        url = upload_url(hostname, mms_type, token, conn.auth)
        async with self.http.session().post(url, data=body(), headers=headers) as response:
            if response.status in (401, 403):
                raise _Refused
            if response.status != 200:
                raise MediaUploadError(f"{hostname} answered {response.status}", response.status)
            try:
                answer = await response.json(content_type=None)
            except ValueError:
                raise MediaUploadError(f"{hostname} answered with something other than JSON") from None
        if second.file_enc_sha256 != first.file_enc_sha256:
            raise MediaUploadError("the file changed while it was being uploaded")
        if not isinstance(answer, dict) or not (answer.get("url") or answer.get("direct_path")):
            raise MediaUploadError(f"{hostname} answered without url or direct_path")
        media_url = str(answer.get("url") or "")
        direct_path = str(answer.get("direct_path") or "")
        handle = answer.get("handle")
        return media_url, direct_path, str(handle) if handle else None
