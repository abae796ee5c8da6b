"""One-time prekeys: how many to upload, generating them safely, and the upload stanza. No I/O.

Rules (docs/protocol.md §Prekeys; whatsmeow `prekeys.go`, Baileys `uploadPreKeysToServerIfRequired`):
- The first upload of a device sends a large batch; afterwards the pool is refilled to a target
  whenever the server's count falls below a low-water mark (not only at 0, Baileys #2643), and
  when the server pushes `<notification type="encrypt"><count value=N/>`.
- Ids are 24-bit and monotonic (`creds.next_prekey_id`), never handed out twice: the generated keys
  and the id bump are committed in ONE transaction BEFORE the upload, so a crash mid-upload cannot
  make the next run reuse ids; keys generated but never confirmed are uploaded again next time.
- A batch counts as uploaded (`creds.first_unuploaded_prekey_id`) only after the server's result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from whatsapp.auth import AuthState, KeyType
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.errors import DecodeError
from whatsapp.jid import SERVER_JID
from whatsapp.key_nodes import key_node, key_type_node, registration_node, signed_key_node
from whatsapp.keys import KeyPair

INITIAL_PREKEY_COUNT = 812  # what WA Web, Baileys and whatsmeow upload the first time
TARGET_PREKEY_COUNT = 100
LOW_WATER_MARK = 20
MAX_PREKEY_ID = 0xFFFFFF  # ids travel as 3 bytes


@dataclass(frozen=True, slots=True)
class PrekeyPlan:
    reuse_ids: list[int]  # generated earlier, never confirmed uploaded: send them again
    generate: int  # how many new keys to make


def plan_upload(creds: Credentials, server_count: int) -> PrekeyPlan:
    """How to bring the server's pool back up; `generate == 0 and not reuse_ids` means nothing to do."""
    pending = list(_id_range(creds.first_unuploaded_prekey_id, creds.next_prekey_id))
    if server_count >= LOW_WATER_MARK and not pending:
        return PrekeyPlan([], 0)
    if server_count >= LOW_WATER_MARK:
        return PrekeyPlan(pending, 0)
    never_uploaded = creds.first_unuploaded_prekey_id == 1 and server_count == 0
    wanted = (INITIAL_PREKEY_COUNT if never_uploaded else TARGET_PREKEY_COUNT) - server_count
    reuse = pending[:wanted]
    return PrekeyPlan(reuse, max(0, wanted - len(reuse)))


def _id_range(first: int, end: int) -> list[int]:
    """Ids from `first` up to (not including) `end`, across the 24-bit wrap."""
    ids: list[int] = []
    current = first
    while current != end and len(ids) <= MAX_PREKEY_ID:
        ids.append(current)
        current = prekey_id_after(current)
    return ids


def prekey_id_after(key_id: int) -> int:
    """The id after `key_id`: after 16.7 million keys the 24-bit space wraps (0 is never used), as in libsignal."""
    return 1 if key_id >= MAX_PREKEY_ID else key_id + 1


@dataclass(frozen=True, slots=True)
class PreparedUpload:
    keys: list[tuple[int, KeyPair]]
    next_prekey_id: int  # the value of creds.first_unuploaded_prekey_id once the server confirmed


async def prepare_upload(auth: AuthState, plan: PrekeyPlan) -> PreparedUpload:
    """Load the keys to re-send, generate new ones and durably store them with the id bump."""
    creds = auth.creds
    keys: list[tuple[int, KeyPair]] = []
    if plan.reuse_ids:
        stored = await auth.get(KeyType.PRE_KEY, [str(i) for i in plan.reuse_ids])
        for key_id in plan.reuse_ids:
            value = stored.get(str(key_id))
            if value is not None:
                keys.append((key_id, KeyPair.from_bytes(value)))
    next_id = creds.next_prekey_id
    if plan.generate:
        async with auth.transaction() as tx:
            for _ in range(plan.generate):
                pair = KeyPair.generate()
                tx.set(KeyType.PRE_KEY, str(next_id), pair.to_bytes())
                keys.append((next_id, pair))
                next_id = prekey_id_after(next_id)
            tx.set_creds(dataclasses.replace(auth.creds, next_prekey_id=next_id))
    return PreparedUpload(keys, next_id)


async def mark_uploaded(auth: AuthState, upload: PreparedUpload) -> None:
    async with auth.transaction() as tx:
        tx.set_creds(dataclasses.replace(auth.creds, first_unuploaded_prekey_id=upload.next_prekey_id))


def count_iq(iq_id: str) -> Node:
    return Node("iq", {"id": iq_id, "xmlns": "encrypt", "type": "get", "to": SERVER_JID}, [Node("count")])


def parse_count(node: Node) -> int:
    """The N of `<count value=N/>` in an IQ result or an encrypt notification."""
    count = node.child("count")
    value = count.attr_int("value") if count is not None else None
    if value is None or value < 0:
        raise DecodeError("prekey count answer has no <count value=N>")
    return value


def upload_iq(iq_id: str, creds: Credentials, keys: list[tuple[int, KeyPair]]) -> Node:
    spk = creds.signed_prekey
    return Node(
        "iq",
        {"id": iq_id, "xmlns": "encrypt", "type": "set", "to": SERVER_JID},
        [
            registration_node(creds.registration_id),
            key_type_node(),
            Node("identity", {}, creds.identity_key.public),
            Node("list", {}, [key_node(key_id, pair.public) for key_id, pair in keys]),
            signed_key_node(spk.key_id, spk.key_pair.public, spk.signature),
        ],
    )
