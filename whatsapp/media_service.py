"""The client's media: one object holding the transfer layer, which the Client composes and delegates to
(docs/architecture.md §Media).

    media_conn cache (mediaconn.py) ─┬─ MediaDownloader (download.py) ─┐
    aiohttp session (media_http.py) ─┴─ MediaUploader (upload.py) ─────┼─ MediaService
    MediaRetries (mediaretry.py: receipt out, notification in) ────────┘  + MediaSender (media_send.py)

`download_message` is what `MessageReceived.download()` calls: the plain download, and when the host
answers 404/410 the media-retry round trip to our phone, then the download from the new path. Message
events get this service as their `media_source` when they are emitted (`attach`), so a plugin can
`await message.download()` without holding the client.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from loguru import logger

from whatsapp.context import Context
from whatsapp.download import MediaDownloader
from whatsapp.errors import MediaError, MediaExpired
from whatsapp.events import Event, MessageReceived
from whatsapp.media_http import MediaHttp, MediaOptions
from whatsapp.media_message import downloadable, find_media
from whatsapp.media_send import MediaSender, SendMessage
from whatsapp.mediaconn import MediaConnCache
from whatsapp.mediaretry import MediaRetries, RetryTarget
from whatsapp.router import StanzaRouter
from whatsapp.upload import MediaUploader


class MediaService:
    def __init__(self, ctx: Context, options: MediaOptions, send: SendMessage) -> None:
        self.options = options
        self.http = MediaHttp(options)
        self.conns = MediaConnCache(ctx)
        self.downloader = MediaDownloader(self.http, self.conns)
        self.uploader = MediaUploader(self.http, self.conns)
        self.retries = MediaRetries(ctx)
        self.sender = MediaSender(self.uploader, send)

    def install(self, router: StanzaRouter) -> None:
        self.retries.install(router)

    def attach(self, event: Event) -> Event:
        """The event to hand to the application: a media message gets this service as its `media_source`."""
        if isinstance(event, MessageReceived) and event.media_source is None and find_media(event.message):
            return dataclasses.replace(event, media_source=self)
        return event

    async def download_message(self, message: MessageReceived, path: Path | str | None) -> bytes | Path:
        item = downloadable(message.message)
        if item is None:
            raise MediaError(f"message {message.id} has no downloadable media")
        try:
            return await self.downloader.download(item, path)
        except MediaExpired:
            target = RetryTarget(message.id, message.chat, message.from_me,
                                 message.sender if message.is_group else None)
            direct_path = await self.retries.request(target, item.media_key, self.options.retry_timeout)
            logger.info("media of {} uploaded again by the phone; downloading it from the new path", message.id)
            return await self.downloader.download(item.with_direct_path(direct_path), path)

    async def close(self) -> None:
        await self.http.close()
