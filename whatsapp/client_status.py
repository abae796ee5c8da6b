"""The Client's methods for posting a status (story): text or image, to a recipient list or, when none is
given, to the bot's contacts (whatsapp/status.py says what the default audience is and why).

Kept apart from whatsapp/client.py, which composes the concerns these use.
"""

from __future__ import annotations

from collections.abc import Sequence

from whatsapp.auth import AuthState
from whatsapp.client_interactions import as_jid
from whatsapp.contacts import ContactStore
from whatsapp.errors import ConnectionGone
from whatsapp.jid import JID, STATUS_BROADCAST_JID
from whatsapp.media_send import MediaSpec
from whatsapp.media_service import MediaService
from whatsapp.messages import SendResult
from whatsapp.proto import e2e_pb2
from whatsapp.send import Sender
from whatsapp.status import DEFAULT_BACKGROUND, default_audience, text_status
from whatsapp.upload import MediaSource


class StatusMethods:
    """Mixed into `Client`, which sets these concerns up in its constructor."""

    auth: AuthState
    _sender: Sender
    _media: MediaService
    _contacts: ContactStore

    @property
    def connected(self) -> bool:
        raise NotImplementedError  # the Client's

    async def send_status(self, text: str, recipients: Sequence[JID | str] | None = None, *,
                          background: int = DEFAULT_BACKGROUND) -> SendResult:
        """Post a text status that `recipients` (users) see, the contacts when None; `background`: ARGB.
        Raises SendError when the audience is empty (no recipients given, or no contacts known)."""
        return await self._post_status(text_status(text, background), recipients)

    async def send_image_status(self, source: MediaSource, recipients: Sequence[JID | str] | None = None, *,
                                caption: str | None = None, mimetype: str | None = None) -> SendResult:
        """Post an image status (bytes or a file path), uploaded as any image is; audience as `send_status`."""
        if not self.connected:
            raise ConnectionGone("not connected")
        message = await self._media.sender.prepare(source, MediaSpec("image", caption=caption, mimetype=mimetype))
        return await self._post_status(message, recipients)

    async def _post_status(self, message: e2e_pb2.Message, recipients: Sequence[JID | str] | None) -> SendResult:
        if not self.connected:
            raise ConnectionGone("not connected")
        users = ([as_jid(r) for r in recipients] if recipients is not None
                 else await default_audience(self.auth, await self._contacts.users()))
        return await self._sender.send(STATUS_BROADCAST_JID, message, recipients=users)
