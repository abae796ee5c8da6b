"""The prekey digest check after login: does the server hand out the keys we hold? (docs/protocol.md §Prekeys)

`<iq xmlns="encrypt" type="get"><digest/></iq>` answers what the server has for this device: registration
id, identity, signed prekey (id, key, signature) and the ids of the one-time prekeys it still has
(Baileys `src/Socket/socket.ts` digestKeyBundle runs it after every login). Any difference, or a one-time
prekey id we no longer hold, means peers would build sessions we cannot open: we upload our keys again.
A missing digest (404, or no `<digest>`) means the server has no bundle of ours at all: the same.
"""

from __future__ import annotations

from whatsapp.auth import AuthState, KeyType
from whatsapp.binary import Node
from whatsapp.creds import Credentials
from whatsapp.jid import SERVER_JID


def digest_iq() -> Node:
    return Node("iq", {"xmlns": "encrypt", "type": "get", "to": SERVER_JID}, [Node("digest")])


def _bytes(node: Node | None, tag: str) -> bytes | None:
    child = node.child(tag) if node is not None else None
    return child.content_bytes if child is not None else None


def bundle_problem(answer: Node, creds: Credentials) -> str | None:
    """What in the server's digest differs from our credentials, or None when all of it matches."""
    digest = answer.child("digest")
    if digest is None:
        return "the server has no key bundle for this device"
    registration = _bytes(digest, "registration")
    if registration is None or int.from_bytes(registration, "big") != creds.registration_id:
        return "registration id differs"
    if _bytes(digest, "identity") != creds.identity_key.public:
        return "identity key differs"
    skey = digest.child("skey")
    spk = creds.signed_prekey
    skey_id = _bytes(skey, "id")
    if skey is None or skey_id is None or int.from_bytes(skey_id, "big") != spk.key_id:
        return "signed prekey id differs"
    if _bytes(skey, "value") != spk.key_pair.public or _bytes(skey, "signature") != spk.signature:
        return "signed prekey differs"
    return None


def listed_prekey_ids(answer: Node) -> list[int]:
    digest = answer.child("digest")
    listed = digest.child("list") if digest is not None else None
    ids: list[int] = []
    for item in listed.children_by_tag("id") if listed is not None else []:
        raw = item.content_bytes
        if raw:
            ids.append(int.from_bytes(raw, "big"))
    return ids


async def digest_problem(answer: Node, auth: AuthState) -> str | None:
    """`bundle_problem`, then: every one-time prekey the server lists is one we still hold."""
    problem = bundle_problem(answer, auth.creds)
    if problem is not None:
        return problem
    ids = listed_prekey_ids(answer)
    held = await auth.get(KeyType.PRE_KEY, [str(i) for i in ids])
    missing = [i for i in ids if str(i) not in held]
    if missing:
        return f"{len(missing)} of the server's {len(ids)} one-time prekeys are unknown here"
    return None
