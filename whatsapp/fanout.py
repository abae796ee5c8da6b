"""Encrypting one message for many devices: targets, missing sessions, `<to><enc/></to>` per device.

Shared by every send (direct, group, resend):
- `targets`: one per device of the given users (our own sending device excluded), each with the
  device's canonical (LID) Signal address and its padded plaintext;
- `bundles_for`: prekey bundles for targets without an open session, fetched in one IQ;
- `encrypt_all`: inside the caller's transaction, builds the missing sessions and encrypts; a device
  we cannot encrypt for is skipped with one log line, never fails the whole send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from whatsapp.addressing import canonical_device, load_session_bytes
from whatsapp.auth import KeyType, Transaction
from whatsapp.binary import Node
from whatsapp.compose import enc_node
from whatsapp.context import Context
from whatsapp.devices import DeviceDirectory
from whatsapp.errors import DecodeError, SignalError
from whatsapp.jid import JID
from whatsapp.signal import LocalIdentity, PreKeyBundle, SessionRecord, build_session_from_bundle, encrypt_message
from whatsapp.usync import parse_bundles, prekey_query


@dataclass(slots=True)
class Target:
    wire: JID  # the JID in `<to jid>` (the conversation's addressing)
    address: JID  # the canonical (LID when known) device for the session
    plaintext: bytes  # padded Message


class Fanout:
    def __init__(self, ctx: Context, devices: DeviceDirectory) -> None:
        self.ctx = ctx
        self.devices = devices

    async def targets(self, users: list[JID], exclude: JID,
                      payload_for: Callable[[JID], bytes | None]) -> list[Target]:
        """One target per device of `users` (our own sending device excluded; None payload = skip)."""
        lists = await self.devices.devices(users)
        targets: list[Target] = []
        for user in users:
            found = lists.get(user.to_non_ad())
            if found is None:
                continue
            for wire in found.device_jids():
                if wire.user == exclude.user and wire.device == exclude.device:
                    continue
                plaintext = payload_for(wire)
                if plaintext is None:
                    continue
                address = await canonical_device(self.ctx.auth, wire, found.lid)
                targets.append(Target(wire, address, plaintext))
        return targets

    async def bundles_for(self, targets: list[Target], force: set[JID] | None = None) -> dict[JID, PreKeyBundle]:
        """Bundles for the targets that have no session (or are in `force`), fetched in one IQ."""
        need: list[Target] = []
        # Read-only unless a PN session migrates to LID; under the Signal lock so such a copy never
        # lands on top of a LID session a concurrent decrypt just advanced.
        async with self.ctx.locks.signal, self.ctx.auth.transaction() as tx:
            for target in targets:
                if force and target.address in force:
                    need.append(target)
                    continue
                stored = await load_session_bytes(tx, target.address)
                if stored is None or not SessionRecord.from_bytes(stored).has_open_session:
                    need.append(target)
        if not need:
            return {}
        answer = await self.ctx.query(prekey_query([t.wire for t in need]))
        fetched = parse_bundles(answer)
        bundles: dict[JID, PreKeyBundle] = {}
        for target in need:
            found = fetched.get(target.wire)
            if isinstance(found, PreKeyBundle):
                bundles[target.address] = found
            else:
                logger.warning("no prekey bundle for {}: {}", target.wire, found or "not in the answer")
        return bundles

    async def encrypt_all(self, tx: Transaction, targets: list[Target], bundles: dict[JID, PreKeyBundle],
                          count: int | None = None) -> tuple[list[Node], bool]:
        """`<to jid><enc/></to>` per target and whether any is a pkmsg; the caller holds the Signal lock."""
        me = LocalIdentity.from_creds(self.ctx.auth.creds)
        nodes: list[Node] = []
        any_prekey = False
        for target in targets:
            address = target.address.signal_address
            try:
                stored = await load_session_bytes(tx, target.address)
                record = SessionRecord.from_bytes(stored) if stored is not None else None
                bundle = bundles.get(target.address)
                if bundle is not None:
                    known = (await tx.get(KeyType.IDENTITY, [address])).get(address)
                    built = build_session_from_bundle(record, me, bundle, known_identity=known)
                    record = built.record
                    tx.set(KeyType.IDENTITY, address, built.remote_identity)
                record, encrypted = encrypt_message(record, me, target.plaintext)
            except (SignalError, DecodeError) as exc:
                logger.warning("cannot encrypt for {}: {}", target.wire, exc)
                continue
            tx.set(KeyType.SESSION, address, record.to_bytes())
            any_prekey = any_prekey or encrypted.type == "pkmsg"
            nodes.append(Node("to", {"jid": target.wire}, [enc_node(encrypted.type, encrypted.body, count)]))
        return nodes, any_prekey

    def device_identity(self) -> Node:
        """`<device-identity>`: our signed account identity, required next to any pkmsg."""
        return Node("device-identity", {}, self.ctx.auth.creds.account or b"")
