"""WhatsApp's random padding of serialized `Message` protobufs before Signal encryption (docs/protocol.md §Padding).

n bytes each equal to n are appended. Baileys pads 1..16, whatsmeow 1..15; we pad 1..16 like Baileys, and on
unpad require all n trailing bytes to equal n (whatsmeow's stricter check), which both senders satisfy.
"""

from __future__ import annotations

import secrets

from whatsapp.errors import DecodeError

MAX_PADDING = 16


def pad_message(plaintext: bytes, pad_length: int | None = None) -> bytes:
    """Append 1..16 padding bytes; `pad_length` fixes the amount (tests), otherwise it is random."""
    if pad_length is None:
        pad_length = (secrets.randbits(4)) + 1
    if not 1 <= pad_length <= MAX_PADDING:
        raise ValueError(f"pad length must be 1..{MAX_PADDING}, got {pad_length}")
    return plaintext + bytes([pad_length]) * pad_length


def unpad_message(padded: bytes) -> bytes:
    """Strip the padding, raising DecodeError when it is absent or inconsistent."""
    if not padded:
        raise DecodeError("padded message is empty", 0)
    pad_length = padded[-1]
    if pad_length == 0 or pad_length > len(padded):
        raise DecodeError(f"padding length {pad_length} is invalid for a {len(padded)}-byte message", len(padded) - 1)
    tail = padded[-pad_length:]
    if tail.count(pad_length) != pad_length:
        raise DecodeError(f"padding bytes are not all equal to {pad_length}", len(padded) - pad_length)
    return padded[:-pad_length]
