"""Downloading media: from the `media_conn` hosts in order, verified and decrypted while it streams
(whatsmeow `download.go` DownloadMediaWithPath, Baileys `src/Utils/messages-media.ts`
downloadContentFromMessage; docs/protocol.md §Media transfer).

    data = await downloader.download(item)                  # bytes
    path = await downloader.download(item, "photo.jpg")     # a file, written as `photo.jpg.part` first

URL: `https://<host><directPath>&hash=<b64url fileEncSha256>&mms-type=<type>&__wa-mms=` for each host in
turn, then the message's own `url` as the last resort (or alone, without a direct path). A host that
fails (network, 5xx, a cut-off body) gives way to the next. A 404 or 410 is final (`MediaExpired`:
only the sender's phone can upload the blob again, see whatsapp/mediaretry.py), as are a 403, a blob
that fails its checks (`MediaIntegrityError`: every host serves the same content-addressed blob) and
one over the size cap (`MediaTooLarge`). Plaintext is kept aside (in memory or the `.part` file) until
`MediaDecryptor.finish()` has checked the hashes and the MAC; a failed download leaves nothing behind.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import quote, urlsplit

import aiohttp
from loguru import logger

from whatsapp.errors import MediaDownloadError, MediaExpired, MediaIntegrityError, MediaTooLarge
from whatsapp.media_http import DOWNLOAD_CAP, MediaHttp
from whatsapp.media_message import Downloadable
from whatsapp.media_stream import MediaDecryptor, body_length
from whatsapp.mediaconn import MediaConnCache


def download_url(hostname: str, item: Downloadable) -> str:
    assert item.direct_path is not None
    separator = "&" if "?" in item.direct_path else "?"
    digest = base64.urlsafe_b64encode(item.file_enc_sha256).decode() if item.file_enc_sha256 else ""
    return (f"https://{hostname}{item.direct_path}{separator}hash={quote(digest, safe='')}"
            f"&mms-type={item.mms_type}&__wa-mms=")


class _Sink(Protocol):
    def write(self, data: bytes) -> None: ...

    def commit(self) -> bytes | Path: ...

    def discard(self) -> None: ...


class _BytesSink:
    def __init__(self) -> None:
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data

    def commit(self) -> bytes:
        return bytes(self._buffer)

    def discard(self) -> None:
        self._buffer = bytearray()


class _FileSink:
    """Writes `<path>.part`; renamed onto `path` only once the download checked out."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self._file: IO[bytes] | None = open(self.part, "wb")  # noqa: SIM115 - closed in commit/discard

    def write(self, data: bytes) -> None:
        assert self._file is not None
        self._file.write(data)

    def commit(self) -> Path:
        assert self._file is not None
        self._file.close()
        self._file = None
        os.replace(self.part, self.path)
        return self.path

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.part.unlink(missing_ok=True)


async def _batched(content: aiohttp.StreamReader, size: int) -> AsyncIterator[bytes]:
    """The body in pieces of about `size` bytes: TLS hands out ~16 KiB records, and every piece costs the
    decryptor, the hashes and the file a call each, so small ones are joined first."""
    pending: list[bytes] = []
    held = 0
    async for chunk in content.iter_any():
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield b"".join(pending)
            pending, held = [], 0
    if pending:
        yield b"".join(pending)


class MediaDownloader:
    def __init__(self, http: MediaHttp, conns: MediaConnCache) -> None:
        self.http = http
        self.conns = conns
        self.downloads = 0
        self.bytes = 0

    async def download(self, item: Downloadable, path: Path | str | None = None, *,
                       max_bytes: int | None = DOWNLOAD_CAP) -> bytes | Path:
        """The plaintext as bytes (`path` None) or written to `path`; raises a MediaError subclass."""
        limit = self.http.options.max_download_bytes if max_bytes == DOWNLOAD_CAP else max_bytes
        if limit is not None and item.file_length is not None and item.file_length > limit:
            logger.warning("media {} not downloaded: {} bytes is over the limit of {}", item.media_type,
                           item.file_length, limit)
            raise MediaTooLarge(item.file_length, limit)
        try:
            result = await self._from_hosts(item, Path(path) if path is not None else None, limit)
        except MediaIntegrityError as exc:
            logger.warning("media {} download rejected: {}", item.media_type, exc)
            raise
        except MediaTooLarge as exc:
            logger.warning("media {} download stopped: {}", item.media_type, exc)
            raise
        self.downloads += 1
        return result

    async def _from_hosts(self, item: Downloadable, path: Path | None, limit: int | None) -> bytes | Path:
        urls: list[str] = []
        if item.direct_path:
            conn = await self.conns.get()
            urls = [download_url(host.hostname, item) for host in conn.hosts]
        if item.url and not any(urlsplit(url).netloc == urlsplit(item.url).netloc for url in urls):
            urls.append(item.url)
        if not urls:
            raise MediaDownloadError("the message has neither a direct path nor a URL")
        last: MediaDownloadError | None = None
        for index, url in enumerate(urls):
            host = urlsplit(url).netloc
            try:
                return await self._fetch(url, item, path, limit)
            except MediaDownloadError as exc:
                if isinstance(exc, MediaExpired) or exc.status == 403:
                    logger.info("media {} at {}: {}", item.media_type, host, exc)
                    raise
                last = exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = MediaDownloadError(f"{host}: {type(exc).__name__}: {exc}")
            if index + 1 < len(urls):
                logger.warning("media download from {} failed ({}); trying the next host", host, last)
        assert last is not None
        logger.warning("media {} download failed on every host: {}", item.media_type, last)
        raise last

    async def _fetch(self, url: str, item: Downloadable, path: Path | None, limit: int | None) -> bytes | Path:
        decryptor = MediaDecryptor(item.media_key, item.media_type, file_enc_sha256=item.file_enc_sha256,
                                   file_sha256=item.file_sha256)
        body_limit = body_length(limit) if limit is not None else None
        host = urlsplit(url).netloc
        async with self.http.session().get(url) as response:
            if response.status != 200:
                response.release()
                if response.status in (404, 410):
                    raise MediaExpired(f"the media host answered {response.status}", response.status)
                raise MediaDownloadError(f"{host} answered {response.status}", response.status)
            declared = response.content_length
            if body_limit is not None and declared is not None and declared > body_limit:
                raise MediaTooLarge(declared, body_limit)
            sink: _Sink = _FileSink(path) if path is not None else _BytesSink()
            try:
                async for chunk in _batched(response.content, self.http.options.chunk_size):
                    if body_limit is not None and decryptor.body_length + len(chunk) > body_limit:
                        raise MediaTooLarge(decryptor.body_length + len(chunk), body_limit)
                    sink.write(decryptor.update(chunk))
                if declared is not None and decryptor.body_length != declared:
                    raise MediaDownloadError(f"{host} sent {decryptor.body_length} of {declared} bytes")
                sink.write(decryptor.finish())
                result = sink.commit()
            except BaseException:
                sink.discard()
                raise
        self.bytes += decryptor.plaintext_length
        logger.info("media {} downloaded: {} bytes from {}", item.media_type, decryptor.plaintext_length, host)
        return result


__all__ = ["MediaDownloader", "download_url"]
