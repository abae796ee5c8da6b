"""The Client's methods for users and contacts (docs/protocol.md §Users): the on-WhatsApp check, PN↔LID
lookups, about texts, profile pictures, the block list, the push names learned from messages, and what app
state says of contacts and chats (whatsapp/appstate.py).

One-line delegates to whatsapp/users.py and whatsapp/contacts.py, kept apart from whatsapp/client.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from whatsapp.appstate import AppStateSync, ChatSettings
from whatsapp.business import BusinessProfile
from whatsapp.client_interactions import as_jid
from whatsapp.contacts import ContactStore
from whatsapp.jid import JID
from whatsapp.syncd import COLLECTIONS
from whatsapp.users import OnWhatsApp, Users


class UserMethods:
    """Mixed into `Client`, which sets these concerns up in its constructor."""

    _users: Users
    _contacts: ContactStore
    _appstate: AppStateSync

    async def on_whatsapp(self, phones: Iterable[str]) -> list[OnWhatsApp]:
        """Which phone numbers have WhatsApp (`.exists`), with their JIDs and LIDs."""
        return await self._users.on_whatsapp(list(phones))

    async def lid_for(self, pn: JID | str) -> JID | None:
        return await self._users.lid_for(as_jid(pn))

    async def pn_for(self, lid: JID | str) -> JID | None:
        return await self._users.pn_for(as_jid(lid))

    async def about(self, user: JID | str) -> str | None:
        return await self._users.about(as_jid(user))

    async def profile_picture_url(self, jid: JID | str, *, preview: bool = False) -> str | None:
        return await self._users.profile_picture_url(as_jid(jid), preview=preview)

    async def business_profile(self, jid: JID | str) -> BusinessProfile | None:
        """A business account's description, category, email, websites, address and hours; None for an
        account that is not a business."""
        return await self._users.business_profile(as_jid(jid))

    async def blocklist(self) -> list[JID]:
        return await self._users.blocklist()

    async def block(self, user: JID | str) -> list[JID]:
        return await self._users.set_blocked(as_jid(user), True)

    async def unblock(self, user: JID | str) -> list[JID]:
        return await self._users.set_blocked(as_jid(user), False)

    async def push_name(self, user: JID | str) -> str | None:
        """The name a contact gave themselves, as their last message told us (kept in the session store)."""
        return await self._contacts.push_name(as_jid(user))

    async def contact_name(self, user: JID | str) -> str | None:
        """The name the account's address book gives `user` (app state, contactAction)."""
        return await self._appstate.contact_name(as_jid(user))

    async def chat_settings(self, chat: JID | str) -> ChatSettings:
        """Whether `chat` is pinned, muted (until when) or archived, as the account's devices set it."""
        return await self._appstate.chat_settings(as_jid(chat))

    async def sync_app_state(self) -> None:
        """Fetch every app-state collection now (it is fetched on its own after key shares and server_sync)."""
        await self._appstate.sync(COLLECTIONS)
