"""PN↔LID mappings and the canonical Signal address of a device (docs/protocol.md §Addressing).

A contact's Signal session and identity are keyed by its LID address once the mapping is known, so
messages addressed by phone number and by LID use ONE ratchet (two would corrupt each other: Bad MAC).
A session found under the PN address is copied to the LID address on first use and the PN copy is
left in place (never deleted in flight).

Mappings are stored as Baileys does: `lid-mapping[pnUser] = lidUser`, `lid-mapping[lidUser_reverse] = pnUser`.
"""

from __future__ import annotations

from typing import Protocol

from whatsapp.auth import KeyType
from whatsapp.creds import Credentials
from whatsapp.errors import WhatsAppError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET


class KeyReader(Protocol):
    async def get(self, key_type: KeyType, ids: list[str]) -> dict[str, bytes]: ...


class KeyWriter(KeyReader, Protocol):
    def set(self, key_type: KeyType, key_id: str, value: bytes | None) -> None: ...


def own_addresses(creds: Credentials) -> tuple[JID, JID | None]:
    """Our account's phone-number device JID and its LID (None until the server has told us)."""
    if not creds.me_id:
        raise WhatsAppError("not paired: no own address yet")
    return JID.parse(creds.me_id), JID.parse(creds.me_lid) if creds.me_lid else None


def own_users(me_pn: JID, me_lid: JID | None) -> set[str]:
    """The user parts that mean "our account" in either addressing (a message may name us by PN or LID)."""
    return {me_pn.user} | ({me_lid.user} if me_lid else set())


def mapping_records(pn_user: str, lid_user: str) -> list[tuple[KeyType, str, bytes]]:
    """The two `lid-mapping` records of one PN↔LID pair (one per lookup direction)."""
    return [
        (KeyType.LID_MAPPING, pn_user, lid_user.encode()),
        (KeyType.LID_MAPPING, f"{lid_user}_reverse", pn_user.encode()),
    ]


def store_mapping(tx: KeyWriter, pn_user: str, lid_user: str) -> None:
    for key_type, key_id, value in mapping_records(pn_user, lid_user):
        tx.set(key_type, key_id, value)


async def lid_user_for(keys: KeyReader, pn_user: str) -> str | None:
    found = (await keys.get(KeyType.LID_MAPPING, [pn_user])).get(pn_user)
    return found.decode() if found else None


async def pn_user_for(keys: KeyReader, lid_user: str) -> str | None:
    key = f"{lid_user}_reverse"
    found = (await keys.get(KeyType.LID_MAPPING, [key])).get(key)
    return found.decode() if found else None


async def canonical_device(keys: KeyReader, device: JID, known_lid: JID | None = None) -> JID:
    """The LID form of a PN device when the mapping is known (`known_lid` from the envelope wins)."""
    if device.server != S_WHATSAPP_NET:
        return device
    if known_lid is not None and known_lid.server == LID:
        return JID(known_lid.user, LID, device.device)
    lid_user = await lid_user_for(keys, device.user)
    return JID(lid_user, LID, device.device) if lid_user else device


async def load_session_bytes(tx: KeyWriter, address_jid: JID) -> bytes | None:
    """The session record for a (canonical) device; a LID address falls back to its PN copy (migration)."""
    address = address_jid.signal_address
    found = (await tx.get(KeyType.SESSION, [address])).get(address)
    if found is not None or address_jid.server != LID:
        return found
    pn_user = await pn_user_for(tx, address_jid.user)
    if pn_user is None:
        return None
    pn_address = JID(pn_user, S_WHATSAPP_NET, address_jid.device).signal_address
    migrated = (await tx.get(KeyType.SESSION, [pn_address])).get(pn_address)
    if migrated is not None:
        identity = (await tx.get(KeyType.IDENTITY, [pn_address])).get(pn_address)
        tx.set(KeyType.SESSION, address, migrated)
        if identity is not None:
            tx.set(KeyType.IDENTITY, address, identity)
    return migrated


def sender_key_id(group: JID, author: JID) -> str:
    """`group::user[_domain]::device`, the key of a sender key record (KeyType.SENDER_KEY)."""
    address = author.signal_protocol_address
    return f"{group.to_non_ad()}::{address.name}::{address.device}"
