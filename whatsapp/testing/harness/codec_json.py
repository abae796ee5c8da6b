"""Binary nodes in the JSON shapes of the codec oracles (tests/node/codec_oracle.mjs, codec_bench.mjs).

Bytes travel as `{"b64": ...}`, text and JIDs as `{"str": ...}`, children as a list. What the oracle reads
(`node_to_json`) has attrs as an object of strings; what it answers for a decoded node (`decoded_to_json`)
has attrs as ordered [name, value] pairs, so attribute order is compared too.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from whatsapp.binary import Node
from whatsapp.jid import JID


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _content_json(node: Node, child: Callable[[Node], dict[str, object]], text: Callable[[str | JID], str]) -> object:
    content = node.content
    if content is None:
        return None
    if isinstance(content, list):
        return [child(c) for c in content]
    if isinstance(content, bytes):
        return {"b64": b64(content)}
    return {"str": text(content)}


def node_to_json(node: Node) -> dict[str, object]:
    """A node as the oracle reads it (JID values given in their string form)."""
    attrs = {k: str(v) for k, v in node.attrs.items()}
    return {"tag": node.tag, "attrs": attrs, "content": _content_json(node, node_to_json, str)}


def as_baileys_string(value: str | JID) -> str:
    """The string Baileys decodes a value to. The one difference: an AD_JID domain byte that names no
    server (an agent) is dropped by Baileys, kept by us (whatsmeow keeps it too, as RawAgent)."""
    if isinstance(value, JID) and value.agent and value.server == "s.whatsapp.net":
        value = JID(value.user, value.server, value.device)
    return str(value)


def decoded_to_json(node: Node) -> dict[str, object]:
    """A Python-decoded node in the oracle's output shape (attrs as ordered pairs)."""
    attrs = [[k, as_baileys_string(v)] for k, v in node.attrs.items()]
    return {"tag": node.tag, "attrs": attrs, "content": _content_json(node, decoded_to_json, as_baileys_string)}
