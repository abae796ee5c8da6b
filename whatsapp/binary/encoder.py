"""Node -> WABinary bytes, byte-identical to Baileys 7's `encodeBinaryNode`.

String values go through Baileys' order: single/double-byte token, NIBBLE_8, HEX_8 (uppercase only),
then -- for any string containing '@' -- Baileys' own JID reading of it (`jidDecode`, including its
loose `user_agent:device` splitting and JavaScript number coercions, so odd strings still encode to
the same bytes), else raw UTF-8 in BINARY_8/20/32.

`JID` objects encode as Baileys encodes their string form, with two deliberate differences where
Baileys has no faithful encoding: `msgr` JIDs use FB_JID and `interop` JIDs INTEROP_JID (as whatsmeow
does; Baileys only decodes those tags), and a device on a server AD_JID cannot carry raises EncodeError.

Known, deliberate deviation: Baileys looks strings up in a plain JS object, so property names such as
"constructor" or "__proto__" come out as a bogus token 0; here they are written as ordinary strings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from whatsapp.binary import tokens as t
from whatsapp.binary.node import Node
from whatsapp.errors import EncodeError
from whatsapp.jid import (
    DOMAIN_FOR_SERVER,
    HOSTED,
    HOSTED_LID,
    INTEROP,
    JID,
    LID,
    MESSENGER,
    S_WHATSAPP_NET,
    SERVER_FOR_DOMAIN,
)

MAX_ENCODE_DEPTH = 256

_TOKEN_BYTES = t.TOKEN_BYTES
_NIBBLE_RE = re.compile(r"[0-9.\-]{1,127}")
_HEX_RE = re.compile(r"[0-9A-F]{1,127}")
_NIBBLE_TO_HEX = str.maketrans({"-": "A", ".": "B"})
_AD_SERVERS = frozenset({S_WHATSAPP_NET, LID, HOSTED, HOSTED_LID})

# Encodings of recent non-token strings (ids, JIDs): bounded, cleared wholesale when full.
_CACHE_MAX_ENTRIES = 8192
_CACHE_MAX_LEN = 160
_string_cache: dict[str, bytes] = {}

_EMPTY_STRING = bytes((t.BINARY_8, 0))


def _length_header(length: int) -> bytes:
    if length < 256:
        return bytes((t.BINARY_8, length))
    if length < 1 << 20:
        return bytes((t.BINARY_20, (length >> 16) & 0x0F, (length >> 8) & 0xFF, length & 0xFF))
    if length < 1 << 32:
        return bytes((t.BINARY_32,)) + length.to_bytes(4, "big")
    raise EncodeError(f"value too large to encode: {length} bytes")


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: JavaScript's Buffer.from(str) pairs what it can and writes U+FFFD for the rest.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode("utf-8")


def _raw_string(text: str) -> bytes:
    data = _utf8(text)
    return _length_header(len(data)) + data


def _packed(text: str, tag: int) -> bytes:
    # Nibbles 0-9 '-' '.' are the hex digits 0-9 A B; an odd length is padded with nibble F.
    length = len(text)
    digits = text.translate(_NIBBLE_TO_HEX) if tag == t.NIBBLE_8 else text
    if length & 1:
        digits += "F"
        return bytes((tag, ((length + 1) >> 1) | 0x80)) + bytes.fromhex(digits)
    return bytes((tag, length >> 1)) + bytes.fromhex(digits)


def _plain_string(text: str) -> bytes | None:
    """The encoding of a string unless Baileys would treat it as a JID (then None)."""
    if not text:
        return _EMPTY_STRING
    if len(text) <= t.PACKED_MAX:
        if _NIBBLE_RE.fullmatch(text):
            return _packed(text, t.NIBBLE_8)
        if _HEX_RE.fullmatch(text):
            return _packed(text, t.HEX_8)
    if "@" in text:
        return None
    return _raw_string(text)


def string_bytes(text: str) -> bytes:
    """The WABinary encoding of one string value (Baileys `writeString`)."""
    encoded = _TOKEN_BYTES.get(text)
    if encoded is not None:
        return encoded
    encoded = _string_cache.get(text)
    if encoded is not None:
        return encoded
    encoded = _plain_string(text)
    if encoded is None:
        encoded = _jid_string_bytes(text)
    if len(text) <= _CACHE_MAX_LEN:
        if len(_string_cache) >= _CACHE_MAX_ENTRIES:
            _string_cache.clear()
        _string_cache[text] = encoded
    return encoded


# -- Baileys' reading of a string as a JID ---------------------------------------------------------------

_JS_WHITESPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_JS_RADIX_RE = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
_RADIX = {"x": 16, "o": 8, "b": 2}
_PARSE_INT_HEX_RE = re.compile(r"[0-9a-fA-F]+")
_PARSE_INT_DEC_RE = re.compile(r"[0-9]+")


def _int_to_double(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _js_number(text: str) -> float:
    """JavaScript's `+text` (StringToNumber)."""
    s = text.strip(_JS_WHITESPACE)
    if not s:
        return 0.0
    if _JS_DECIMAL_RE.fullmatch(s):
        return float(s)
    match = _JS_RADIX_RE.fullmatch(s)
    if match:
        try:
            return _int_to_double(int(match.group(2), _RADIX[match.group(1).lower()]))
        except ValueError:
            return math.nan
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    return math.nan


def _js_parse_int(text: str) -> float:
    """JavaScript's `parseInt(text)` (radix inferred)."""
    s = text.lstrip(_JS_WHITESPACE)
    sign = 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s[:2] in ("0x", "0X"):
        match = _PARSE_INT_HEX_RE.match(s, 2)
        radix = 16
    else:
        match = _PARSE_INT_DEC_RE.match(s)
        radix = 10
    if not match:
        return math.nan
    return sign * _int_to_double(int(match.group(0), radix))


def _js_byte(value: float) -> int:
    """`pushByte(value || 0)`: ToInt32 then & 0xff."""
    if math.isnan(value) or math.isinf(value):
        return 0
    return int(value) & 0xFF


def _jid_string_bytes(text: str) -> bytes:
    """Baileys `writeJid(jidDecode(text))` for a string containing '@'.

    A server part that itself contains '@' is written as a string again, so nested JID_PAIRs are built
    iteratively (no recursion on hostile input).
    """
    out = bytearray()
    while True:
        user_combined, _, server = text.partition("@")
        user_agent, _, rest = user_combined.partition(":")
        device = rest.split(":", 1)[0] if _ else ""
        user, underscore, agent_rest = user_agent.partition("_")
        agent = agent_rest.split("_", 1)[0] if underscore else ""
        if device:
            domain = DOMAIN_FOR_SERVER.get(server)
            if domain is None:
                domain = _js_byte(_js_parse_int(agent)) if agent else 0
            out += bytes((t.AD_JID, domain, _js_byte(_js_number(device))))
            out += string_bytes(user)
            return bytes(out)
        out.append(t.JID_PAIR)
        out += string_bytes(user) if user else b"\x00"
        encoded = _TOKEN_BYTES.get(server)
        if encoded is None:
            encoded = _plain_string(server)
        if encoded is not None:
            out += encoded
            return bytes(out)
        text = server


# -- JID objects -------------------------------------------------------------------------------------------


def jid_bytes(jid: JID) -> bytes:
    """The WABinary encoding of a JID object."""
    try:
        return _jid_bytes(jid)
    except (TypeError, ValueError, OverflowError) as exc:  # fields of the wrong type or range
        raise EncodeError(f"unencodable JID {jid!r}: {exc}") from None


def _jid_bytes(jid: JID) -> bytes:
    server = jid.server
    if server == MESSENGER:
        _check_u16(jid.device, "FB_JID device")
        return bytes((t.FB_JID,)) + _strict_string(jid.user) + jid.device.to_bytes(2, "big") + string_bytes(server)
    if server == INTEROP:
        _check_u16(jid.device, "INTEROP_JID device")
        _check_u16(jid.integrator, "INTEROP_JID integrator")
        return (
            bytes((t.INTEROP_JID,))
            + _strict_string(jid.user)
            + jid.device.to_bytes(2, "big")
            + jid.integrator.to_bytes(2, "big")
            + string_bytes(server)
        )
    if jid.device:
        if server not in _AD_SERVERS:
            raise EncodeError(f"a device JID on server {server!r} has no wire encoding: {jid}")
        domain = jid.domain_type
        if not 0 < jid.device <= 0xFF or not 0 <= domain <= 0xFF:
            raise EncodeError(f"AD_JID device/domain out of range: {jid}")
        if server == S_WHATSAPP_NET and domain in SERVER_FOR_DOMAIN and domain:
            # that agent byte would be read back as the lid/hosted domain: a different account
            raise EncodeError(f"agent {domain} of {jid} would be read as the {SERVER_FOR_DOMAIN[domain]} domain")
        return bytes((t.AD_JID, domain, jid.device)) + _strict_string(jid.user)
    if not server:
        raise EncodeError("a JID needs a server")
    user = jid.user
    return bytes((t.JID_PAIR,)) + (_strict_string(user) if user else b"\x00") + _strict_string(server)


def _strict_string(text: str) -> bytes:
    if type(text) is not str:
        raise EncodeError(f"JID part must be str, not {type(text).__name__}")
    if "@" in text:
        raise EncodeError(f"a JID part cannot contain '@': {text!r}")
    return string_bytes(text)


def _check_u16(value: int, what: str) -> None:
    if type(value) is not int or not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{what} out of range: {value!r}")


# -- nodes ---------------------------------------------------------------------------------------------------


def _list_start(size: int) -> bytes:
    if size < 256:
        return _LIST_HEADERS[size]
    if size <= 0xFFFF:
        return bytes((t.LIST_16, size >> 8, size & 0xFF))
    raise EncodeError(f"list too long to encode: {size} entries")


_LIST_HEADERS = (b"\x00", *(bytes((t.LIST_8, size)) for size in range(1, 256)))


def _is_array_index(key: str) -> bool:
    return key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and int(key) < 0xFFFFFFFF


# Attribute names that may be written without a second look: tokens that are not array indices.
_PLAIN_KEY_TOKENS = {key: value for key, value in _TOKEN_BYTES.items() if not _is_array_index(key)}


def _ordered_attrs(attrs: Mapping[str, object]) -> list[tuple[str, object]]:
    """Attributes as Baileys writes them: None values dropped, and in JavaScript's key order (array-index
    keys such as "10" first, ascending, then the rest in insertion order)."""
    items = [(k, v) for k, v in attrs.items() if v is not None]
    if any(type(k) is str and _is_array_index(k) for k, _ in items):
        index_items = sorted((kv for kv in items if _is_array_index(kv[0])), key=lambda kv: int(kv[0]))
        return index_items + [kv for kv in items if not _is_array_index(kv[0])]
    return items


def _write_attrs(items: Iterable[tuple[str, object]], out: bytearray, tag: str, checked: bool) -> bool:
    """Write name/value pairs; False (unless `checked`) when a None value or an array-index name needs
    `_ordered_attrs` first."""
    token_bytes = _TOKEN_BYTES
    for key, value in items:
        encoded = _PLAIN_KEY_TOKENS.get(key)
        if encoded is None:
            if type(key) is not str:
                raise EncodeError(f"attribute name must be str: {key!r}")
            if not checked and key[:1].isdigit() and _is_array_index(key):
                return False
            encoded = string_bytes(key)
        out += encoded
        if type(value) is str:
            encoded = token_bytes.get(value)
            out += encoded if encoded is not None else string_bytes(value)
        elif isinstance(value, JID):
            out += jid_bytes(value)
        elif value is None and not checked:
            return False
        elif isinstance(value, str):
            out += string_bytes(str(value))
        else:
            raise EncodeError(f"attribute {key!r} of <{tag}> must be str or JID, not {type(value).__name__}")
    return True


def _coerce_attrs(attrs: object, tag: str) -> dict[str, object]:
    if attrs is None:
        return {}
    if isinstance(attrs, Mapping):
        return dict(attrs)
    raise EncodeError(f"attributes of <{tag}> must be a dict, not {type(attrs).__name__}")


def _write_node(node: Node, out: bytearray, depth: int) -> None:
    if not isinstance(node, Node):
        raise EncodeError(f"not a Node: {type(node).__name__}")
    if depth > MAX_ENCODE_DEPTH:
        raise EncodeError("node nesting too deep")
    tag = node.tag
    if type(tag) is not str or not tag:
        raise EncodeError(f"invalid node tag: {tag!r}")
    # Read as `object`: callers build nodes by hand, and the encoder takes what Baileys' encoder takes
    # (None or any Mapping for attrs, None entries among children, a memoryview content) or refuses it clearly.
    attrs: object = node.attrs
    if type(attrs) is not dict:
        attrs = _coerce_attrs(attrs, tag)
    content: object = node.content
    extra = 1 if content is None else 2
    encoded_tag = _TOKEN_BYTES.get(tag)
    if encoded_tag is None:
        encoded_tag = string_bytes(tag)
    mark = len(out)
    out += _list_start(2 * len(attrs) + extra)
    out += encoded_tag
    if attrs and not _write_attrs(attrs.items(), out, tag, False):
        del out[mark:]
        items = _ordered_attrs(attrs)
        out += _list_start(2 * len(items) + extra)
        out += encoded_tag
        _write_attrs(items, out, tag, True)
    if content is None:
        return
    if isinstance(content, list):
        mark = len(out)
        out += _list_start(len(content))
        depth += 1
        for child in content:
            if child is None:  # Baileys drops empty entries from a child list; so do we
                del out[mark:]
                children = [c for c in content if c is not None]
                out += _list_start(len(children))
                for kept in children:
                    _write_node(kept, out, depth)
                break
            _write_node(child, out, depth)
    elif isinstance(content, (bytes, bytearray)):
        out += _length_header(len(content))
        out += content
    elif isinstance(content, str):
        out += string_bytes(str(content))
    elif isinstance(content, JID):
        out += jid_bytes(content)
    elif isinstance(content, memoryview):
        data = content.cast("B")
        out += _length_header(len(data))
        out += data
    else:
        raise EncodeError(f"invalid content of <{tag}>: {type(content).__name__}")


def encode_node(node: Node) -> bytes:
    """The frame plaintext for one node: flag byte 0x00 then the node (Baileys `encodeBinaryNode`)."""
    out = bytearray(b"\x00")
    _write_node(node, out, 0)
    return bytes(out)


def encode_node_body(node: Node) -> bytes:
    """The node bytes without the flag byte."""
    out = bytearray()
    _write_node(node, out, 0)
    return bytes(out)
