"""The binary node: WhatsApp's XML-like stanza (`tag`, `attrs`, `content`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from whatsapp.jid import JID

AttrValue = str | JID
Content = None | bytes | str | JID | list["Node"]


@dataclass(slots=True)
class Node:
    """One stanza. `content` is None, raw bytes, a string (or JID), or a list of child nodes.

    Decoded attribute values are `str`, except JID-encoded ones, which are `JID`.
    """

    tag: str
    attrs: dict[str, AttrValue] = field(default_factory=dict)
    content: Content = None

    @property
    def children(self) -> list[Node]:
        """The child nodes (empty when the content is not a list)."""
        content = self.content
        return content if isinstance(content, list) else []

    def child(self, tag: str) -> Node | None:
        """The first child with this tag, or None."""
        content = self.content
        if isinstance(content, list):
            for node in content:
                if node.tag == tag:
                    return node
        return None

    def children_by_tag(self, tag: str) -> list[Node]:
        return [node for node in self.children if node.tag == tag]

    def iter_children(self, tag: str | None = None) -> Iterator[Node]:
        for node in self.children:
            if tag is None or node.tag == tag:
                yield node

    def attr(self, name: str, default: AttrValue | None = None) -> AttrValue | None:
        return self.attrs.get(name, default)

    def attr_str(self, name: str, default: str | None = None) -> str | None:
        """An attribute as text (a JID is printed in its wire form)."""
        value = self.attrs.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else str(value)

    def attr_jid(self, name: str) -> JID | None:
        """An attribute as a JID (a string value is parsed; raises DecodeError when it is not a JID)."""
        value = self.attrs.get(name)
        if value is None or isinstance(value, JID):
            return value
        return JID.parse(value)

    def try_attr_jid(self, name: str) -> JID | None:
        """An attribute as a JID, or None when it is absent or not a JID: for stanzas from a peer,
        where one unreadable address must not abort handling the rest."""
        value = self.attrs.get(name)
        if isinstance(value, JID):
            return value
        return JID.try_parse(value) if isinstance(value, str) else None

    def attr_int(self, name: str, default: int | None = None) -> int | None:
        value = self.attrs.get(name)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                return default
        return default

    @property
    def content_bytes(self) -> bytes | None:
        """The content as bytes (a str content, which Baileys sends raw, is UTF-8 encoded)."""
        content = self.content
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode("utf-8")
        return None

    def __repr__(self) -> str:
        return node_to_xml(self)


def node_to_xml(node: Node, indent: int = 0, max_bytes: int = 32) -> str:
    """A readable, log-safe rendering (bytes are shown as hex, truncated)."""
    pad = "  " * indent
    attrs = "".join(f' {k}="{v}"' for k, v in node.attrs.items())
    content = node.content
    if content is None:
        return f"{pad}<{node.tag}{attrs}/>"
    if isinstance(content, list):
        if not content:
            return f"{pad}<{node.tag}{attrs}></{node.tag}>"
        inner = "\n".join(node_to_xml(c, indent + 1, max_bytes) for c in content)
        return f"{pad}<{node.tag}{attrs}>\n{inner}\n{pad}</{node.tag}>"
    if isinstance(content, bytes):
        text = content[:max_bytes].hex()
        if len(content) > max_bytes:
            text += f"...({len(content)} bytes)"
        return f"{pad}<{node.tag}{attrs}><!-- {text} --></{node.tag}>"
    return f"{pad}<{node.tag}{attrs}>{content}</{node.tag}>"
