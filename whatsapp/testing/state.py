"""Everything the emulated server knows: accounts, devices, groups, counters and the event log.

`ServerState` is plain in-memory data shared by the concern modules (login, pairing, prekeys, routing,
the phone); nothing here does I/O except `EventLog`, which only wakes asyncio waiters. A stopped
server's state handed to a new `EmulatedServer(state=...)` is a "restart": same accounts and keys.
The records themselves live in records.py and are re-exported here.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from whatsapp.jid import JID
from whatsapp.keys import KeyPair
from whatsapp.testing.errors import InvalidAccount
from whatsapp.testing.events import EventLog, ServerEvent
from whatsapp.testing.records import (
    GROUP_SERVER,
    LID_SERVER,
    PN_SERVER,
    Account,
    Connection,
    Device,
    Group,
    GroupParticipant,
    Phone,
    PhoneKeys,
    PreKey,
    SignedPreKey,
)

if TYPE_CHECKING:
    from whatsapp.testing.connection import ClientConnection

__all__ = [
    "GROUP_SERVER",
    "LID_SERVER",
    "PN_SERVER",
    "Account",
    "Connection",
    "Device",
    "EventLog",
    "Group",
    "GroupParticipant",
    "Phone",
    "PhoneKeys",
    "PreKey",
    "ServerEvent",
    "ServerState",
    "SignedPreKey",
]

# Fake LIDs start here so they never look like the test phone numbers (15550001111...).
FIRST_LID = 100_000_000_000_001
FIRST_GROUP_ID = 120363000000000001


class ServerState:
    """Everything the emulated server knows. One instance per EmulatedServer (kept across a restart)."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}  # by phone number
        self.accounts_by_lid: dict[str, Account] = {}
        self.groups: dict[str, Group] = {}  # by group id (user part)
        self.events = EventLog()
        self._lids = itertools.count(FIRST_LID)
        self._group_ids = itertools.count(FIRST_GROUP_ID)
        # Connection and notification ids keep counting across a restart, so a client that reconnects to the
        # "restarted" server never sees an id it already handled.
        self._connection_ids = itertools.count(1)
        self._notification_ids = itertools.count(1)

    # -- accounts and devices -------------------------------------------------------------------

    def add_account(self, phone_number: str, lid: str | None = None, push_name: str | None = None) -> Account:
        """A new account whose device 0 (the phone) already has its Signal keys published."""
        if not phone_number.isdigit() or len(phone_number) < 7:
            raise InvalidAccount(f"phone number must be digits in international form, got {phone_number!r}")
        if phone_number in self.accounts:
            raise InvalidAccount(f"account {phone_number} already exists")
        lid = lid or str(next(self._lids))
        identity = KeyPair.generate()
        keys = PhoneKeys.generate(identity)
        account = Account(phone_number=phone_number, lid=lid, identity=identity, phone_keys=keys)
        if push_name:
            account.push_name = push_name
        primary = Device(account=account, device_id=0, identity_public=identity.public, platform=account.platform,
                         push_name=account.push_name, registration_id=keys.registration_id,
                         signed_prekey=keys.public_signed_prekey())
        primary.add_prekeys(keys.public_prekeys())
        account.devices[0] = primary
        self.accounts[phone_number] = account
        self.accounts_by_lid[lid] = account
        return account

    def account_for(self, jid: JID | str) -> Account | None:
        """The account a PN (`@s.whatsapp.net`, `@c.us`) or LID (`@lid`) JID belongs to."""
        if isinstance(jid, str):
            jid = JID.parse(jid)
        if jid.server == LID_SERVER:
            return self.accounts_by_lid.get(jid.user)
        if jid.server in (PN_SERVER, "c.us"):
            return self.accounts.get(jid.user)
        return None

    def device_for(self, jid: JID | str) -> Device | None:
        """The device a PN or LID device JID names (device 0 when the JID has none); None if unknown."""
        if isinstance(jid, str):
            jid = JID.parse(jid)
        account = self.account_for(jid)
        return account.devices.get(jid.device) if account else None

    def pn_for_lid(self, jid: JID) -> JID | None:
        account = self.accounts_by_lid.get(jid.user) if jid.server == LID_SERVER else None
        return JID(account.phone_number, PN_SERVER, jid.device) if account else None

    def lid_for_pn(self, jid: JID) -> JID | None:
        account = self.accounts.get(jid.user) if jid.server in (PN_SERVER, "c.us") else None
        return JID(account.lid, LID_SERVER, jid.device) if account else None

    def all_devices(self) -> Iterator[Device]:
        for account in self.accounts.values():
            yield from account.devices.values()

    # -- connections ----------------------------------------------------------------------------

    @property
    def online(self) -> dict[JID, Connection]:
        """Live logged-in connections keyed by PN device JID."""
        return {d.jid: d.connection for d in self.all_devices() if d.connection is not None}

    def connection_for(self, jid: JID | str) -> Connection | None:
        device = self.device_for(jid)
        return device.connection if device else None

    def next_connection_id(self) -> int:
        return next(self._connection_ids)

    def next_notification_id(self) -> str:
        """A fresh id for a server notification that has no connection-scoped id (group changes)."""
        return str(next(self._notification_ids))

    # -- groups ---------------------------------------------------------------------------------

    def add_group(self, subject: str, creator: Account, members: list[Account], addressing_mode: str = "pn") -> Group:
        group_id = str(next(self._group_ids))
        creator_jid = creator.lid_jid if addressing_mode == "lid" else creator.jid
        group = Group(group_id=group_id, subject=subject, creator=creator_jid, addressing_mode=addressing_mode)
        for account in [creator, *members]:
            if account.phone_number in group.participants:
                continue
            member_jid = account.lid_jid if addressing_mode == "lid" else account.jid
            role = "superadmin" if account is creator else None
            group.participants[account.phone_number] = GroupParticipant(jid=member_jid, role=role)
        self.groups[group_id] = group
        return group

    def group_for(self, jid: JID | str) -> Group | None:
        if isinstance(jid, str):
            jid = JID.parse(jid)
        return self.groups.get(jid.user) if jid.server == GROUP_SERVER else None

    def member_accounts(self, group: Group) -> list[Account]:
        """The group's members that are accounts here, in participant order."""
        return [self.accounts[pn] for pn in group.participants if pn in self.accounts]

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        kind: str,
        *,
        account: Account | None = None,
        device: Device | None = None,
        connection: ClientConnection | None = None,
        data: dict[str, Any] | None = None,
    ) -> ServerEvent:
        event = ServerEvent(kind=kind, account=account, device=device, connection=connection, data=data or {})
        self.events.emit(event)
        return event
