"""The HTTP side of media: options and the one aiohttp session the uploads and downloads share.

    Client(auth, media=MediaOptions(max_download_bytes=50 * MiB))

The session is opened at the first transfer (it needs a running loop) and closed by `Client.close()`.
Requests carry WhatsApp Web's `Origin`/`Referer`, as whatsmeow `download.go` and Baileys
`src/Utils/messages-media.ts` send them. `ssl` is the TLS trust for the media hosts: None means the
system's certificate store (the real hosts); a test passes a context trusting the emulator's certificate.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

MiB = 1024 * 1024
DEFAULT_MAX_DOWNLOAD = 100 * MiB
DOWNLOAD_CAP = -1  # as a `max_bytes` argument: the cap of the client's MediaOptions
ORIGIN = "https://web.whatsapp.com"


@dataclass(frozen=True, slots=True)
class MediaOptions:
    max_download_bytes: int | None = DEFAULT_MAX_DOWNLOAD  # None: no cap
    ssl: ssl.SSLContext | None = None
    chunk_size: int = 256 * 1024
    connect_timeout: float = 20.0
    read_timeout: float = 60.0  # between two chunks, not for a whole transfer
    retry_timeout: float = 30.0  # how long the sender's phone gets to upload expired media again

    def __repr__(self) -> str:
        return f"MediaOptions(max_download_bytes={self.max_download_bytes}, custom_ssl={self.ssl is not None})"


class MediaHttp:
    """The shared aiohttp session (lazily opened)."""

    def __init__(self, options: MediaOptions) -> None:
        self.options = options
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            options = self.options
            timeout = aiohttp.ClientTimeout(total=None, connect=options.connect_timeout,
                                            sock_read=options.read_timeout)
            connector = aiohttp.TCPConnector(ssl=options.ssl if options.ssl is not None else True, limit=16)
            self._session = aiohttp.ClientSession(
                timeout=timeout, connector=connector,
                headers={"Origin": ORIGIN, "Referer": ORIGIN + "/"},
                auto_decompress=False,  # the bodies are ciphertext; their hash is over the bytes as sent
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
