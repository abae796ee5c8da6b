"""The emulated server's records: accounts, devices, prekeys, groups, and the two narrow interfaces the
records point through (a live connection, the simulated phone).

The bottom layer of whatsapp/testing: it imports no other emulator module, so every concern module
(connection, login, pairing, routing, the phone) can build on it without circles.

Addressing: an account has a phone number (PN user "15550001111") and a LID user ("1000000000001").
A device is `(account, device_id)`; device 0 is the simulated primary phone, companions get 1, 2, ....
Clients address peers by either form (whatsmeow `types/jid.go`: DefaultUserServer and HiddenUserServer).
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from whatsapp.creds import SignedPreKey as OwnSignedPreKey
from whatsapp.jid import JID
from whatsapp.keys import KeyPair, generate_registration_id
from whatsapp.testing.errors import UnknownTarget

if TYPE_CHECKING:
    from whatsapp.binary import Node

PN_SERVER = "s.whatsapp.net"
LID_SERVER = "lid"
GROUP_SERVER = "g.us"

PHONE_PREKEY_COUNT = 30  # one-time prekeys the simulated phone publishes at a time
# Ids of the phone's later one-time prekey batches start here, past its first batch (1..30), so none is reused.
PHONE_REFILL_FIRST_ID = 0x100000


class Connection(Protocol):
    """What the records and the routing handlers may do with a live client connection (connection.py)."""

    available: bool  # its last <presence> said available (presence.py relays it to subscribers)

    @property
    def id(self) -> int: ...

    @property
    def is_open(self) -> bool:
        """False once either side closed the connection: stanzas for it must then wait offline."""
        ...

    def next_iq_id(self) -> str:
        """A fresh id for a server-originated stanza on this connection."""
        ...

    async def send_node(self, node: Node) -> None:
        """Encode, encrypt and send one stanza; a closed connection drops it silently."""

    async def close_with_stream_error(self, code: str | None = None, conflict: str | None = None) -> None:
        """Send `<stream:error>` (with `code` and/or a `<conflict type>` child), then close."""


class Phone(Protocol):
    """What tests and the server ask of an account's simulated primary phone (phone.PrimaryPhone)."""

    async def scan_qr(self, qr: str) -> Device:
        """Scan a companion's QR string; the linked device once its pair-device-sign checked out."""
        ...

    async def enter_pairing_code(self, code: str, *, wait: bool = True, timeout: float = 30.0) -> Device | None:
        """Type the code a companion displays for this phone number."""
        ...

    def linked_devices(self) -> list[Device]:
        """The companions currently linked (not the phone itself)."""
        ...

    async def unlink(self, device: Device | JID | str | int, *, notify_self: bool = True) -> Device:
        """Unlink a companion as the phone's "Log out" does."""
        ...

    async def receive(self, node: Node) -> None:
        """A stanza routed to device 0 (the phone has no connection)."""


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
class PhoneKeys:
    """The simulated phone's own key material, private halves included.

    Device 0 is a Signal device like any other: clients fetch its bundle before sending (Baileys 6
    `src/Socket/messages-send.ts` includes the own account's device 0 in every 1:1 fan-out). Kept with the
    account, not in the phone object, so a restarted server (same ServerState) keeps the same phone.
    """

    raw_id: int  # ADVDeviceIdentity.rawID of the account key
    registration_id: int
    signed_prekey: OwnSignedPreKey
    prekeys: dict[int, KeyPair] = field(default_factory=dict)
    next_prekey_id: int = PHONE_REFILL_FIRST_ID
    # What the phone built reading the copies sent to it (phone_inbox.py), by sender "lid.device":
    # Signal sessions and identities, and sender keys by "group::lid.device".
    sessions: dict[str, bytes] = field(default_factory=dict)
    identities: dict[str, bytes] = field(default_factory=dict)
    sender_keys: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def generate(cls, identity: KeyPair) -> PhoneKeys:
        keys = cls(raw_id=secrets.randbits(32), registration_id=generate_registration_id(),
                   signed_prekey=OwnSignedPreKey.generate(identity, 1))
        keys.prekeys = {key_id: KeyPair.generate() for key_id in range(1, PHONE_PREKEY_COUNT + 1)}
        return keys

    def public_signed_prekey(self) -> SignedPreKey:
        spk = self.signed_prekey
        return SignedPreKey(spk.key_id, spk.key_pair.public, spk.signature)

    def public_prekeys(self) -> list[PreKey]:
        return [PreKey(key_id, pair.public) for key_id, pair in self.prekeys.items()]

    def refill(self, count: int = PHONE_PREKEY_COUNT) -> list[PreKey]:
        """A fresh batch, as the phone uploads when the server ran out; ids continue past any it ever had."""
        start = self.next_prekey_id
        batch = {key_id: KeyPair.generate() for key_id in range(start, start + count)}
        self.prekeys.update(batch)
        self.next_prekey_id = start + count
        return [PreKey(key_id, pair.public) for key_id, pair in batch.items()]


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
    # Stanzas waiting for the device to come online (delivery.py owns the contents and the delivery).
    offline_queue: deque[Node] = field(default_factory=deque)
    # Messages sent and not yet confirmed by a receipt or ack (unacked.py): (id, from, participant) ->
    # (id() of the connection they went out on, the stanza), in send order.
    unconfirmed: dict[tuple[str, str, str], tuple[int, Node]] = field(default_factory=dict)
    # The live connection logged in as this device, if any.
    connection: Connection | None = None
    # A `<failure reason=...>` to answer at the next login instead of `<success>` (faults.py sets it):
    # (reason, extra attributes) and whether it stays for later logins too.
    pending_failure: tuple[str, dict[str, str]] | None = None
    pending_failure_sticky: bool = False
    # The phone has sent this companion its history sync (phone_history.py): once, after the first login.
    history_synced: bool = False

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


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A trust token one account issued to another (`<iq xmlns="privacy"><tokens><token jid t/>`)."""

    token: bytes
    t: int  # the issuer's timestamp, unix seconds


@dataclass(eq=False)
class Account:
    """A WhatsApp account: one phone number, one LID, an account identity key pair and its devices."""

    phone_number: str
    lid: str
    # The primary's identity key pair: signs ADV device identities (accountSignatureKey) and is
    # device 0's Signal identity, as on a real phone.
    identity: KeyPair
    phone_keys: PhoneKeys
    push_name: str = "Emulated User"
    platform: str = "android"  # <platform name> in pair-success; "smba"/"smbi" mark a business account
    business_name: str | None = None
    # What a business account publishes (w:biz business_profile, testing/profile.py); ignored otherwise.
    business_description: str = ""
    business_category: str | None = None
    business_email: str | None = None
    business_website: str | None = None
    business_address: str | None = None
    about: str = ""  # the "about" text (usync <status>)
    picture_id: str | None = None  # the profile picture, None: not set (w:profile:picture answers 404)
    blocked: list[JID] = field(default_factory=list)  # the account's block list (user JIDs, LID as stored)
    devices: dict[int, Device] = field(default_factory=dict)
    next_device_id: int = 1
    next_key_index: int = 1
    created_at: float = field(default_factory=time.time)
    # The simulated primary phone driving this account, attached by EmulatedServer (see `phone`).
    attached_phone: Phone | None = field(default=None, repr=False)
    # Trust tokens this account issued, by the recipient account's phone number, newest last (tokens.py).
    issued_tokens: dict[str, list[IssuedToken]] = field(default_factory=dict, repr=False)
    # The account secret its cstokens are derived from (whatsmeow `cstoken.go`); the phone shares it with
    # companions by history sync.
    nct_salt: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Under a reach-out restriction: it may not start new chats, a 1:1 message needs the contact's token.
    reachout_restricted: bool = False

    def __repr__(self) -> str:
        return f"Account({self.phone_number}, lid={self.lid}, devices={sorted(self.devices)})"

    @property
    def phone(self) -> Phone:
        """The simulated primary phone: `await account.phone.scan_qr(qr)`."""
        if self.attached_phone is None:
            raise UnknownTarget(f"account {self.phone_number} has no simulated phone (made outside an EmulatedServer)")
        return self.attached_phone

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

    def discard_companion(self, device: Device) -> None:
        """Forget a companion whose pairing failed (its id and key index are not reused)."""
        if self.devices.get(device.device_id) is device and not device.is_primary:
            del self.devices[device.device_id]


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
    description_id: str | None = None
    description_time: int = 0
    announce: bool = False  # only admins send
    locked: bool = False  # only admins edit the info
    ephemeral: int = 0
    invite_code: str = field(default_factory=lambda: secrets.token_urlsafe(16)[:22])

    @property
    def jid(self) -> JID:
        return JID(self.group_id, GROUP_SERVER)
