"""The participant hash (`phash`): which devices a send was meant for, as the server checks it.

A sender's device lists are cached (whatsapp/devices.py) and may be stale: a contact linked a device, a
member left. The server knows the real lists; it hashes them and, when the sender's view differs, says so
in the message's `<ack phash=…>` (docs/protocol.md §Groups). whatsmeow `send.go` puts `phash` on group
messages and, for any send, compares the ack's phash with its own and drops the stale caches; we do the
same.

The hash (whatsmeow `participantListHashV2`): "2:" then the unpadded base64 of the first 6 bytes of the
SHA-256 over the sorted `user.agent:device@server` strings of every device, our own included.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from loguru import logger

from whatsapp.binary import Node
from whatsapp.devices import DeviceDirectory
from whatsapp.groups import GroupDirectory
from whatsapp.jid import JID


def participant_hash(devices: Iterable[JID]) -> str:
    joined = "".join(sorted(f"{jid.user}.{jid.agent}:{jid.device}@{jid.server}" for jid in devices))
    return "2:" + base64.b64encode(hashlib.sha256(joined.encode()).digest()[:6]).decode().rstrip("=")


class ParticipantHash:
    """Hashes the device lists a send used, and refreshes them when the server's ack disagrees."""

    def __init__(self, devices: DeviceDirectory, groups: GroupDirectory) -> None:
        self.devices = devices
        self.groups = groups
        self.mismatches = 0

    async def of_users(self, users: list[JID]) -> str:
        """The hash over every device of `users` (read from the cache the send just filled)."""
        lists = await self.devices.devices(users)
        return participant_hash(jid for found in lists.values() for jid in found.device_jids())

    async def check_ack(self, chat: JID, users: list[JID], ours: str, ack: Node) -> None:
        """When the ack's phash differs from ours, forget the lists the send used; the next send refetches."""
        theirs = ack.attr_str("phash")
        if not theirs or theirs == ours:
            return
        self.mismatches += 1
        logger.warning("server's participant hash for {} differs from ours ({} != {}): refreshing device lists",
                       chat, theirs, ours)
        if chat.is_group:
            self.groups.forget(chat)
        for user in users:
            await self.devices.invalidate(user)
