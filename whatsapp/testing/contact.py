"""A contact on an in-process emulator: our own client, linked to an emulated account by its simulated phone.

The emulated phones cannot write messages (a real phone's UI is not modelled), so whoever needs "a person
who sends the bot a message" — the sandbox (`python bot.py --sandbox`) and the emulator's `send` command —
links a companion client to that person's account and sends through it, end-to-end encrypted like any
other device. Its memory auth state dies with the process: nothing is stored.

    contact = await Contact.link(server, "15550000002", "You")
    await contact.client.send_text("15550000001@s.whatsapp.net", "!ping")
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.binary import Node
from whatsapp.client import Client
from whatsapp.errors import WhatsAppError
from whatsapp.jid import GROUP_SERVER_JID, JID
from whatsapp.payload import DeviceConfig
from whatsapp.testing.server import EmulatedServer

LINK_TIMEOUT = 30.0
E = TypeVar("E", bound=events.Event)


class Contact:
    """A linked companion of one emulated account; `listeners` see every event its client raises."""

    def __init__(self, server: EmulatedServer, phone: str, push_name: str | None = None) -> None:
        self.server = server
        self.phone = phone
        self.client = Client(MemoryAuthState(), url=server.url, root_public_key=server.root_public_key,
                             device=DeviceConfig(push_name=push_name or phone), media=server.media.client_options())
        self.listeners: list[Callable[[events.Event], None]] = []
        self._seen: list[events.Event] = []
        self._changed = asyncio.Event()
        self.client.add_handler(events.Event, self._record)

    @property
    def jid(self) -> JID:
        return JID(self.phone, "s.whatsapp.net")

    @classmethod
    async def link(cls, server: EmulatedServer, phone: str, push_name: str | None = None) -> Contact:
        """The account (created when missing) with a freshly linked, connected companion whose keys are published."""
        account = server.state.accounts.get(phone) or server.create_account(phone, push_name=push_name)
        contact = cls(server, phone, push_name or account.push_name)
        await contact.client.start()
        try:
            qr = await contact.wait(events.QR)
            await account.phone.scan_qr(qr.code)
            await contact.wait(events.Connected)
            await contact.wait(events.PrekeysUploaded)  # usync lists a device once its keys are published
        except BaseException:
            await contact.close()
            raise
        return contact

    def _record(self, event: events.Event) -> None:
        self._seen.append(event)
        del self._seen[:-256]  # only the waits of linking read these
        self._changed.set()
        for listener in list(self.listeners):
            listener(event)

    async def wait(self, kind: type[E], timeout: float = LINK_TIMEOUT) -> E:
        async def first() -> E:
            while True:
                for event in self._seen:
                    if isinstance(event, kind):
                        return event
                self._changed.clear()
                await self._changed.wait()

        try:
            return await asyncio.wait_for(first(), timeout)
        except TimeoutError:
            raise WhatsAppError(f"contact {self.phone}: no {kind.__name__} within {timeout:g}s") from None

    async def create_group(self, subject: str, members: list[JID]) -> JID:
        """A new group with `members` (w:g2 create, as WhatsApp's apps send it); its JID."""
        create = Node("create", {"subject": subject, "key": self.client.new_id()},
                      [Node("participant", {"jid": member}) for member in members])
        result = await self.client.query(Node("iq", {"to": GROUP_SERVER_JID, "type": "set", "xmlns": "w:g2"}, [create]))
        group = result.child("group")
        group_id = group.attr_str("id") if group is not None else None
        if not group_id:
            raise WhatsAppError(f"group create answered without a group id: {result!r}")
        return JID(group_id, "g.us")

    async def close(self) -> None:
        await self.client.close()
