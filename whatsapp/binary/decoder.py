"""WABinary bytes -> Node.

Wherever Baileys 7's `decodeBinaryNode` reads a frame, this decoder reads it to the same values
(attribute strings as `str`, JID tags as `JID`, BINARY content as `bytes`; checked by the differential
fuzz test), except where it is deliberately stricter: bytes after the node, JIDs nested anywhere but in a
pair's server, FB_JID/INTEROP_JID on a foreign server, BINARY_32 lengths >= 2**31 (Baileys misreads those
as negative) and the depth limit. A decoded JID's `str()` is Baileys' string for it, except that an AD_JID
domain byte naming no server is kept as the JID's agent (as whatsmeow does; Baileys drops it) and that
FB_JID/INTEROP_JID zero devices and integrators are not printed.

Malformed input raises `DecodeError(reason, offset)`. Offsets count from the start of the frame given to
`decode_node` (for a compressed frame: from the start of the inflated node bytes). Limits that keep
hostile input cheap:

- nesting depth at most `MAX_DEPTH` nodes;
- a list or attribute count larger than the remaining bytes could hold is rejected before reading it;
- a JID part cannot itself be a JID, except the server of a JID pair (Baileys writes "a@b@c" that way;
  such a value decodes as the string "a@b@c"), at most 16 deep;
- a compressed frame may inflate to at most `MAX_INFLATED_SIZE` bytes (16 MiB, the most one Noise frame
  can carry before compression);
- bytes left over after the node are an error (a frame holds exactly one node), as in whatsmeow.
"""

from __future__ import annotations

import zlib

from whatsapp.binary import tokens as t
from whatsapp.binary.node import Node
from whatsapp.errors import DecodeError, EncodeError
from whatsapp.jid import JID, MESSENGER, S_WHATSAPP_NET, SERVER_FOR_DOMAIN

MAX_DEPTH = 64
MAX_INFLATED_SIZE = 16 * 1024 * 1024

_SINGLE = t.SINGLE_BYTE_TOKENS
_DOUBLE = t.DOUBLE_BYTE_TOKENS
_FIRST_DICT = t.DICTIONARY_0
_LIST_EMPTY = t.LIST_EMPTY
_LIST_8 = t.LIST_8
_LIST_16 = t.LIST_16
_BINARY_8 = t.BINARY_8
_BINARY_20 = t.BINARY_20
_BINARY_32 = t.BINARY_32
_NIBBLE_8 = t.NIBBLE_8
_HEX_8 = t.HEX_8
_JID_PAIR = t.JID_PAIR
_AD_JID = t.AD_JID
_JID_TAGS = frozenset({t.JID_PAIR, t.AD_JID, t.FB_JID, t.INTEROP_JID})
_MIN_NODE_SIZE = 3  # LIST_8, size, one-byte tag

# Packed nibbles read as hex digits: a -> '-', b -> '.', f -> padding (Baileys keeps it as NUL).
_NIBBLE_FROM_HEX = str.maketrans({"a": "-", "b": ".", "f": "\0"})


def _need(buf: bytes, pos: int, count: int, what: str) -> None:
    if pos + count > len(buf):
        raise DecodeError(f"unexpected end of data reading {what} ({count} bytes needed, {len(buf) - pos} left)", pos)


def _read_packed(buf: bytes, pos: int, tag: int) -> tuple[str, int]:
    header = buf[pos]  # IndexError when truncated, see _read_node
    end = pos + 1 + (header & 0x7F)
    if end > len(buf):
        raise DecodeError(f"unexpected end of data reading packed string ({header & 0x7F} bytes)", pos + 1)
    digits = buf[pos + 1 : end].hex()
    if tag == _NIBBLE_8:
        if header & 0x80:  # odd length: the last nibble is padding, but must still be a valid nibble
            if digits[-1:] in ("c", "d", "e"):
                raise DecodeError("invalid nibble in packed string", end - 1)
            digits = digits[:-1]
        if digits.isdigit():  # the usual case: phone numbers, timestamps, counters
            return digits, end
        if "c" in digits or "d" in digits or "e" in digits:
            raise DecodeError("invalid nibble in packed string", pos + 1)
        return digits.translate(_NIBBLE_FROM_HEX), end
    if header & 0x80:
        return digits[:-1].upper(), end
    return digits.upper(), end


def _read_raw(buf: bytes, pos: int, tag: int) -> tuple[int, int]:
    """The (start, end) of a BINARY_8/20/32 value whose tag was at pos - 1."""
    if tag == _BINARY_8:
        _need(buf, pos, 1, "BINARY_8 length")
        length = buf[pos]
        pos += 1
    elif tag == _BINARY_20:
        _need(buf, pos, 3, "BINARY_20 length")
        length = ((buf[pos] & 0x0F) << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
        pos += 3
    else:
        _need(buf, pos, 4, "BINARY_32 length")
        length = int.from_bytes(buf[pos : pos + 4], "big")
        pos += 4
    _need(buf, pos, length, "binary value")
    return pos, pos + length


def _read_plain(buf: bytes, pos: int, tag: int) -> tuple[str, int]:
    """A string that is not a JID; `tag` was read at pos - 1."""
    if 0 < tag < 236:
        return _SINGLE[tag], pos
    if tag in (_NIBBLE_8, _HEX_8):
        return _read_packed(buf, pos, tag)
    if tag <= 239:
        if tag == _LIST_EMPTY:
            return "", pos
        return _DOUBLE[tag - _FIRST_DICT][buf[pos]], pos + 1
    if tag >= _BINARY_8:
        start, end = _read_raw(buf, pos, tag)
        return buf[start:end].decode("utf-8", "replace"), end
    if tag in _JID_TAGS:
        raise DecodeError("a JID cannot be part of a JID", pos - 1)
    raise DecodeError(f"invalid string tag {tag}", pos - 1)


def _read_u16(buf: bytes, pos: int, what: str) -> int:
    _need(buf, pos, 2, what)
    return (buf[pos] << 8) | buf[pos + 1]


_JID_CACHE_MAX = 4096
_jid_cache: dict[tuple[str, str, int, int], JID] = {}


def _make_jid(user: str, server: str, device: int = 0, agent: int = 0) -> JID:
    # JIDs are immutable and repeat a lot across stanzas; building a frozen dataclass is the costly part.
    key = (user, server, device, agent)
    jid = _jid_cache.get(key)
    if jid is None:
        if len(_jid_cache) >= _JID_CACHE_MAX:
            _jid_cache.clear()
        jid = _jid_cache[key] = JID(user, server, device, agent)
    return jid


def _read_value(buf: bytes, pos: int, tag: int) -> tuple[str | JID, int]:
    """A string or JID value; `tag` was read at pos - 1."""
    if tag not in _JID_TAGS:
        return _read_plain(buf, pos, tag)
    start = pos - 1
    if tag == _JID_PAIR:
        user, pos = _read_plain(buf, pos + 1, buf[pos])
        server_tag = buf[pos]
        if server_tag in _JID_TAGS:
            # Baileys writes "a@b@c" as a pair whose server is another JID; it is a string, not a JID.
            server, pos = _read_jid_string(buf, pos + 1, server_tag, 1)
            return f"{user}@{server}", pos
        server, pos = _read_plain(buf, pos + 1, server_tag)
        if not server:
            raise DecodeError("JID pair without a server", start)
        return _make_jid(user, server), pos
    if tag == _AD_JID:
        domain = buf[pos]
        device = buf[pos + 1]
        user, pos = _read_plain(buf, pos + 3, buf[pos + 2])
        domain_server = SERVER_FOR_DOMAIN.get(domain)
        if domain_server is None:  # an agent rather than a domain (whatsmeow's reading)
            return _make_jid(user, S_WHATSAPP_NET, device, domain), pos
        return _make_jid(user, domain_server, device), pos
    if tag == t.FB_JID:
        user, pos = _read_plain(buf, pos + 1, buf[pos])
        device = _read_u16(buf, pos, "FB_JID device")
        server, pos = _read_plain(buf, pos + 3, buf[pos + 2])
        if server != MESSENGER:
            raise DecodeError(f"FB_JID with server {server!r}", start)
        return JID(user, server, device), pos
    # INTEROP_JID: Baileys falls back to the "interop" server when no server string can be read.
    user, pos = _read_plain(buf, pos + 1, buf[pos])
    device = _read_u16(buf, pos, "INTEROP_JID device")
    integrator = _read_u16(buf, pos + 2, "INTEROP_JID integrator")
    pos += 4
    server = "interop"
    if pos < len(buf):
        if buf[pos] in _JID_TAGS:  # Baileys reads that as a (nested) JID string: not "interop"
            raise DecodeError("INTEROP_JID with server <a JID>", start)
        try:
            server, after = _read_plain(buf, pos + 1, buf[pos])
        except (DecodeError, IndexError):
            server = "interop"
        else:
            pos = after
            if server != "interop":
                raise DecodeError(f"INTEROP_JID with server {server!r}", start)
    return JID(user, server, device, integrator=integrator), pos


def _baileys_string(tag: int, value: str | JID) -> str:
    """The string Baileys' decoder makes of a value read from this tag."""
    if isinstance(value, str):
        return value
    if tag == t.FB_JID:
        return f"{value.user}:{value.device}@{value.server}"
    if tag == t.INTEROP_JID:
        return f"{value.integrator}-{value.user}:{value.device}@{value.server}"
    device = f":{value.device}" if value.device else ""
    return f"{value.user}{device}@{value.server}"


_MAX_JID_NESTING = 16


def _read_jid_string(buf: bytes, pos: int, tag: int, nesting: int) -> tuple[str, int]:
    """A JID in the server slot of a JID pair, as Baileys' string; bounded nesting, read iteratively."""
    parts: list[str] = []
    while tag == _JID_PAIR:
        if nesting > _MAX_JID_NESTING:
            raise DecodeError(f"JID pairs nested deeper than {_MAX_JID_NESTING}", pos - 1)
        start = pos - 1
        user, pos = _read_plain(buf, pos + 1, buf[pos])
        tag = buf[pos]
        if tag not in _JID_TAGS:
            server, pos = _read_plain(buf, pos + 1, tag)
            if not server:
                raise DecodeError("JID pair without a server", start)
            parts.append(f"{user}@{server}")
            return "".join(parts), pos
        parts.append(f"{user}@")
        pos += 1
        nesting += 1
    value, pos = _read_value(buf, pos, tag)
    parts.append(_baileys_string(tag, value))
    return "".join(parts), pos


def _read_name(buf: bytes, pos: int) -> tuple[str, int]:
    """A tag or attribute name (a JID there becomes the string Baileys would make of it)."""
    tag = buf[pos]
    if 0 < tag < 236:
        return _SINGLE[tag], pos + 1
    value, pos = _read_value(buf, pos + 1, tag)
    return _baileys_string(tag, value), pos


# Single-byte reads past the end raise IndexError, which decode_node_body turns into DecodeError at the
# end offset; multi-byte slices are bounds-checked explicitly (a short slice would not raise).
def _read_node(buf: bytes, pos: int, depth: int) -> tuple[Node, int]:
    size_pos = pos
    tag = buf[pos]
    if tag == _LIST_8:
        size = buf[pos + 1]
        pos += 2
    elif tag == _LIST_16:
        size = (buf[pos + 1] << 8) | buf[pos + 2]
        pos += 3
    elif tag == _LIST_EMPTY:
        raise DecodeError("empty node", pos)
    else:
        raise DecodeError(f"expected a node (list tag), got tag {tag}", pos)
    if size == 0:
        raise DecodeError("empty node", size_pos)
    tag = buf[pos]
    if 0 < tag < 236:
        name = _SINGLE[tag]
        pos += 1
    else:
        name, pos = _read_name(buf, pos)
        if not name:
            raise DecodeError("node without a tag", size_pos)
    attrs: dict[str, str | JID] = {}
    attr_count = (size - 1) >> 1
    if attr_count:
        if attr_count * 2 > len(buf) - pos:
            raise DecodeError(f"{attr_count} attributes cannot fit in {len(buf) - pos} bytes", size_pos)
        single = _SINGLE
        for _ in range(attr_count):
            tag = buf[pos]
            if 0 < tag < 236:
                key = single[tag]
                pos += 1
            else:
                key, pos = _read_name(buf, pos)
            tag = buf[pos]
            if 0 < tag < 236:
                attrs[key] = single[tag]
                pos += 1
            elif tag in (_NIBBLE_8, _HEX_8):  # ids, timestamps: skip the generic dispatch
                attrs[key], pos = _read_packed(buf, pos + 1, tag)
            else:
                attrs[key], pos = _read_value(buf, pos + 1, tag)
    if size & 1:
        return Node(name, attrs), pos
    tag = buf[pos]
    pos += 1
    content: bytes | str | JID | list[Node]
    if tag == _LIST_8:
        count = buf[pos]
        pos += 1
    elif tag == _BINARY_8:
        length = buf[pos]
        pos += 1 + length
        if pos > len(buf):
            raise DecodeError(f"unexpected end of data reading binary value ({length} bytes)", pos - length)
        return Node(name, attrs, buf[pos - length : pos]), pos
    elif tag == _LIST_16:
        count = (buf[pos] << 8) | buf[pos + 1]
        pos += 2
    elif tag == _LIST_EMPTY:
        return Node(name, attrs, []), pos
    elif tag in (_BINARY_20, _BINARY_32):
        start, pos = _read_raw(buf, pos, tag)
        return Node(name, attrs, buf[start:pos]), pos
    else:
        content, pos = _read_value(buf, pos, tag)
        return Node(name, attrs, content), pos
    if count * _MIN_NODE_SIZE > len(buf) - pos:
        raise DecodeError(f"{count} child nodes cannot fit in {len(buf) - pos} bytes", pos)
    if count and depth >= MAX_DEPTH:
        raise DecodeError(f"nodes nested deeper than {MAX_DEPTH}", pos)
    depth += 1
    children: list[Node] = []
    append = children.append
    for _ in range(count):
        child, pos = _read_node(buf, pos, depth)
        append(child)
    return Node(name, attrs, children), pos


def decode_node_body(data: bytes, offset: int = 0) -> Node:
    """Decode one node from `data[offset:]` (no flag byte); it must use every remaining byte."""
    buf = data if type(data) is bytes else bytes(data)
    try:
        node, pos = _read_node(buf, offset, 0)
    except IndexError:
        raise DecodeError("unexpected end of data (truncated node)", len(buf)) from None
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} bytes left over after the node", pos)
    return node


def inflate(data: bytes, max_size: int = MAX_INFLATED_SIZE) -> bytes:
    """zlib-inflate a compressed frame body, refusing more than `max_size` bytes of output."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, max_size + 1)
    except zlib.error as exc:
        raise DecodeError(f"bad zlib data in compressed frame: {exc}", 1) from None
    if len(out) > max_size:
        raise DecodeError(f"compressed frame inflates beyond {max_size} bytes", 1)
    if not inflater.eof:
        raise DecodeError("truncated zlib data in compressed frame", 1)
    return out


def decode_node(data: bytes | bytearray | memoryview, max_inflated_size: int = MAX_INFLATED_SIZE) -> Node:
    """Decode a frame plaintext: the flag byte, then one node (zlib-deflated when `flag & 2`)."""
    buf = data if type(data) is bytes else bytes(data)
    if not buf:
        raise DecodeError("empty frame", 0)
    if buf[0] & 2:
        return decode_node_body(inflate(buf[1:], max_inflated_size))
    return decode_node_body(buf, 1)


def compress_frame(frame: bytes) -> bytes:
    """Turn an uncompressed frame (flag 0x00 + node) into a compressed one (flag 0x02 + zlib(node))."""
    if not frame or frame[0] & 2:
        raise EncodeError("not an uncompressed frame")
    return bytes((frame[0] | 2,)) + zlib.compress(frame[1:])
