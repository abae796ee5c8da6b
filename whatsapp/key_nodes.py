"""The stanza form of Signal key material: `<registration>`, `<type>`, `<key>`, `<skey>`.

One builder for every place these nodes appear, so the prekey upload, the retry receipt's `<keys>` and the
emulator's bundle and digest answers cannot drift apart: key ids travel as 3 big-endian bytes, registration
ids as 4 (in the registration ClientPayload too), public keys raw (32 bytes, without the 0x05 prefix, which
`<type>` states once).
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.keys import DJB_TYPE

KEY_ID_SIZE = 3
REGISTRATION_ID_SIZE = 4


def encode_key_id(key_id: int) -> bytes:
    return key_id.to_bytes(KEY_ID_SIZE, "big")


def encode_registration_id(registration_id: int) -> bytes:
    return registration_id.to_bytes(REGISTRATION_ID_SIZE, "big")


def registration_node(registration_id: int) -> Node:
    return Node("registration", {}, encode_registration_id(registration_id))


def key_type_node() -> Node:
    return Node("type", {}, bytes([DJB_TYPE]))


def key_node(key_id: int, public: bytes) -> Node:
    """`<key><id/><value/></key>`: one one-time prekey."""
    return Node("key", {}, [Node("id", {}, encode_key_id(key_id)), Node("value", {}, public)])


def signed_key_node(key_id: int, public: bytes, signature: bytes) -> Node:
    """`<skey><id/><value/><signature/></skey>`: the signed prekey."""
    return Node("skey", {}, [
        Node("id", {}, encode_key_id(key_id)),
        Node("value", {}, public),
        Node("signature", {}, signature),
    ])
