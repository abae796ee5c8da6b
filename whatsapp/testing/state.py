"""The emulated server's data model: accounts, devices, connections, offline queues, groups and events.

Plain in-memory objects shared by the core (login, pairing, faults: server.py, phone.py) and the
routing handlers (usync, prekey bundles, message fan-out, receipts, groups). Nothing here does I/O
except `EventLog`, which only wakes asyncio waiters.

Addressing: an account has a phone number (PN user "15550001111") and a LID user ("1000000000001").
A device is `(account, device_id)`; device 0 is the simulated primary phone, companions get 1, 2, ....
Every lookup accepts a PN or a LID JID (`state.device_for(jid)`), because clients address peers by
either (protocol-notes 5.14).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from whatsapp.jid import JID
from whatsapp.keys import KeyPair

if TYPE_CHECKING:
    from whatsapp.binary import Node
    from whatsapp.testing.phone import PrimaryPhone

PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"

# Fake LIDs start here so they never look like the test phone numbers (15550001111...).
FIRST_LID = 100_000_000_000_001


class Connection(Protocol):
    """What the routing handlers may do with a live client connection (implemented in connection.py)."""

    device: Device | None  # set once the connection has logged in; None while registering

    async def send_node(self, node: Node) -> None:
        """Encode, encrypt and send one stanza; a closed connection drops it silently."""

    async def close_with_stream_error(self, code: str | None = None, conflict: str | None = None) -> None:
        """Send `<stream:error>` (with `code` and/or a `<conflict type>` child), then close."""


@dataclass(slots=True)
class PreKey:
    """A one-time prekey as uploaded: 24-bit id and the raw 32-byte public key."""

    key_id: int
    public: bytes


@dataclass(slots=True)
class SignedPreKey:
    key_id: int
    public: bytes  # raw 32 bytes
    signature: bytes  # 64-byte XEdDSA signature over 0x05 || public


@dataclass(eq=False)
class Device:
    """One device of an account: the primary phone (id 0) or a linked companion."""

    account: Account
    device_id: int
    identity_public: bytes | None = None  # raw 32-byte Signal identity key
    noise_public: bytes | None = None  # the companion's Noise static; logins must present it
    registration_id: int | None = None
    signed_prekey: SignedPreKey | None = None
    # Uploaded one-time prekeys, oldest first; a bundle fetch consumes the oldest (take_prekey).
    prekeys: dict[int, PreKey] = field(default_factory=dict)
    # ADVSignedDeviceIdentity as the companion returned it in pair-device-sign (with its device signature,
    # without the account signature key): what other clients receive as this device's <device-identity>.
    adv_identity: bytes | None = None
    key_index: int = 0  # ADVDeviceIdentity.keyIndex, shown in usync <device-list> as key-index
    push_name: str | None = None
    platform: str | None = None  # DeviceProps.os of a companion ("Mac OS"), "android" for the phone
    platform_type: int | None = None  # DeviceProps.platformType
    linked_at: float = field(default_factory=time.time)
    last_login: float | None = None
    removed: bool = False  # unlinked from the phone: logins fail 401
    # Stanzas waiting for the device to come online (routing owns the contents and the delivery).
    offline_queue: deque[Node] = field(default_factory=deque)
    # The live connection logged in as this device, if any.
    connection: Connection | None = None
    # A `<failure reason=...>` to answer at the next login instead of `<success>` (faults.py sets it):
    # (reason, extra attributes) and whether it stays for later logins too.
    pending_failure: tuple[str, dict[str, str]] | None = None
    pending_failure_sticky: bool = False

    def __repr__(self) -> str:
        return f"Device({self.jid}, lid={self.lid_jid}, online={self.online}, removed={self.removed})"

    @property
    def jid(self) -> JID:
        """The PN device JID, `15550001111:2@s.whatsapp.net` (device 0 prints without `:0`)."""
        return JID(self.account.phone_number, PN_SERVER, self.device_id)

    @property
    def lid_jid(self) -> JID:
        return JID(self.account.lid, LID_SERVER, self.device_id)

    @property
    def is_primary(self) -> bool:
        return self.device_id == 0

    @property
    def online(self) -> bool:
        return self.connection is not None

    @property
    def linked(self) -> bool:
        return not self.removed

    def take_prekey(self) -> PreKey | None:
        """Consume the oldest one-time prekey (the server hands each out once), or None when exhausted."""
        if not self.prekeys:
            return None
        key_id = next(iter(self.prekeys))
        return self.prekeys.pop(key_id)

    def add_prekeys(self, keys: list[PreKey]) -> None:
        for key in keys:
            self.prekeys[key.key_id] = key


@dataclass(eq=False)
class Account:
    """A WhatsApp account: one phone number, one LID, an account identity key pair and its devices."""

    phone_number: str
    lid: str
    # The primary's identity key pair: signs ADV device identities (accountSignatureKey) and is
    # device 0's Signal identity, as on a real phone.
    identity: KeyPair
    push_name: str = "Emulated User"
    platform: str = "android"  # <platform name> in pair-success; "smba"/"smbi" mark a business account
    business_name: str | None = None
    devices: dict[int, Device] = field(default_factory=dict)
    next_device_id: int = 1
    next_key_index: int = 1
    created_at: float = field(default_factory=time.time)
    phone: PrimaryPhone | None = None  # the simulated primary phone, set by the server

    def __repr__(self) -> str:
        return f"Account({self.phone_number}, lid={self.lid}, devices={sorted(self.devices)})"

    @property
    def jid(self) -> JID:
        return JID(self.phone_number, PN_SERVER)

    @property
    def lid_jid(self) -> JID:
        return JID(self.lid, LID_SERVER)

    @property
    def primary(self) -> Device:
        return self.devices[0]

    def linked_devices(self, include_primary: bool = True) -> list[Device]:
        """Devices not unlinked, ordered by id (what usync lists)."""
        return [d for _, d in sorted(self.devices.items()) if not d.removed and (include_primary or d.device_id)]

    def companions(self) -> list[Device]:
        return self.linked_devices(include_primary=False)

    def new_companion(self) -> Device:
        """Reserve the next device id for a companion being paired (not usable until it has keys)."""
        device = Device(account=self, device_id=self.next_device_id, key_index=self.next_key_index)
        self.next_device_id += 1
        self.next_key_index += 1
        self.devices[device.device_id] = device
        return device


@dataclass(slots=True)
class GroupParticipant:
    jid: JID  # the member's user JID, PN or LID according to the group's addressing mode
    role: str | None = None  # None, "admin" or "superadmin"


@dataclass(eq=False)
class Group:
    group_id: str  # the user part: "120363000000000001"
    subject: str
    creator: JID
    participants: dict[str, GroupParticipant] = field(default_factory=dict)  # keyed by account phone number
    addressing_mode: str = "pn"  # "pn" or "lid"
    created_at: int = field(default_factory=lambda: int(time.time()))
    subject_time: int = field(default_factory=lambda: int(time.time()))
    description: str | None = None

    @property
    def jid(self) -> JID:
        return JID(self.group_id, GROUP_SERVER)


@dataclass(frozen=True, slots=True)
class ServerEvent:
    """Something that happened on the server, for tests to await.

    Kinds emitted by the core: "connected" (handshake done; data["registration"]), "registration"
    (pair-device refs sent; data["refs"]), "pairing_code_requested" (companion_hello), "paired",
    "pair_failed" (data["why"]), "logged_in", "login_failed" (data["reason"], data["why"]),
    "offline_done" (<ib><offline> sent; data["count"]), "prekeys_uploaded" (data["count"], data["total"]),
    "unlinked", "closed" (data["reason"]), "stanza" (every decoded client stanza; data["node"]).
    Routing may add its own kinds.
    """

    kind: str
    account: Account | None = None
    device: Device | None = None
    connection: Any = None
    data: dict[str, Any] = field(default_factory=dict)


class EventLog:
    """Append-only event history plus waiters: `await log.wait_for(lambda ev: ...)` also sees past events."""

    def __init__(self, keep: int = 10_000) -> None:
        self.events: deque[ServerEvent] = deque(maxlen=keep)
        self._waiters: list[tuple[Callable[[ServerEvent], bool], asyncio.Future[ServerEvent]]] = []

    def emit(self, event: ServerEvent) -> None:
        self.events.append(event)
        for predicate, future in list(self._waiters):
            if future.done():
                self._waiters.remove((predicate, future))
            elif predicate(event):
                future.set_result(event)
                self._waiters.remove((predicate, future))

    async def wait_for(
        self, predicate: Callable[[ServerEvent], bool], timeout: float = 30.0, *, past: bool = True
    ) -> ServerEvent:
        """The first event (already emitted if `past`, else future) matching `predicate`."""
        if past:
            for event in self.events:
                if predicate(event):
                    return event
        future: asyncio.Future[ServerEvent] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise TimeoutError(f"no matching server event within {timeout}s") from None
        finally:
            if (predicate, future) in self._waiters:
                self._waiters.remove((predicate, future))

    def of_kind(self, kind: str) -> list[ServerEvent]:
        return [e for e in self.events if e.kind == kind]


class ServerState:
    """Everything the emulated server knows. One instance per EmulatedServer."""

    def __init__(self) -> None:
        self.accounts: dict[str, Account] = {}  # by phone number
        self.accounts_by_lid: dict[str, Account] = {}
        self.groups: dict[str, Group] = {}  # by group id (user part)
        self.events = EventLog()
        self._lids = itertools.count(FIRST_LID)
        self._group_ids = itertools.count(120363000000000001)

    # -- accounts and devices -------------------------------------------------------------------

    def add_account(self, phone_number: str, lid: str | None = None, push_name: str | None = None) -> Account:
        if not phone_number.isdigit() or len(phone_number) < 7:
            raise ValueError(f"phone number must be digits in international form, got {phone_number!r}")
        if phone_number in self.accounts:
            raise ValueError(f"account {phone_number} already exists")
        lid = lid or str(next(self._lids))
        account = Account(phone_number=phone_number, lid=lid, identity=KeyPair.generate())
        if push_name:
            account.push_name = push_name
        account.devices[0] = Device(account=account, device_id=0, identity_public=account.identity.public,
                                    platform=account.platform, push_name=account.push_name)
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

    def emit(self, kind: str, **kwargs: Any) -> ServerEvent:
        event = ServerEvent(kind=kind, **kwargs)
        self.events.emit(event)
        return event
