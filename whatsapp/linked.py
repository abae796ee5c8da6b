"""Operating this linked device: unlinking it (logout) and listing the account's devices.

A logout is our own `<iq xmlns="md" type="set"><remove-companion-device jid=<own jid> reason="user_initiated"/>`
(Baileys `logout`, whatsmeow `Logout`): once the server answered, the phone no longer lists this device and the
connection ends as logged out. The session is then cleared by the one path every logout takes: the connection
supervisor's `auth.clear()` (whatsapp/connection.py), which the session stores implement by archiving first.

The account's devices come from a fresh usync device list of our own user (whatsapp/devices.py): the server
knows ids and key indexes, not platforms; we know the primary's platform from pairing and our own.
"""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.devices import DeviceDirectory
from whatsapp.errors import NotPaired
from whatsapp.jid import JID, SERVER_JID

PRIMARY_DEVICE = 0


@dataclass(frozen=True, slots=True)
class AccountDevice:
    """One device of our account as the server lists it."""

    device_id: int
    jid: JID
    platform: str | None  # known for the phone (from pairing) and for this bot; None for the others
    this_device: bool

    @property
    def primary(self) -> bool:
        return self.device_id == PRIMARY_DEVICE


def remove_companion_iq(own_jid: str) -> Node:
    return Node("iq", {"to": SERVER_JID, "type": "set", "xmlns": "md"},
                [Node("remove-companion-device", {"jid": own_jid, "reason": "user_initiated"})])


class LinkedDevice:
    def __init__(self, ctx: Context, devices: DeviceDirectory, os_name: str) -> None:
        self.ctx = ctx
        self.directory = devices
        self.os_name = os_name

    def own_jid(self) -> JID:
        me = self.ctx.auth.creds.me_id
        if me is None:
            raise NotPaired("this device is not linked to an account")
        return JID.parse(me)

    def removal_request(self) -> Node:
        """The IQ that unlinks this device (NotPaired when it never was linked)."""
        return remove_companion_iq(str(self.own_jid()))

    async def devices(self) -> list[AccountDevice]:
        """The account's devices, fetched anew (a cached list may predate a link or an unlink)."""
        me = self.own_jid()
        user = me.to_non_ad()
        await self.directory.invalidate(user)
        found = (await self.directory.devices([user])).get(user)
        ids = sorted(found.devices) if found is not None else []
        primary_platform = self.ctx.auth.creds.platform
        listed = []
        for device_id in ids:
            this = device_id == me.device
            platform = self.os_name if this else primary_platform if device_id == PRIMARY_DEVICE else None
            listed.append(AccountDevice(device_id, JID(user.user, user.server, device_id), platform, this))
        logger.debug("account {} lists {} device(s)", user, len(listed))
        return listed
