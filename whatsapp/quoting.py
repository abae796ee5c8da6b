"""The bounded copy of a message that a reply quotes, so a reply can never exceed the frame.

A reply carries the quoted message inside its `contextInfo.quotedMessage`, once per device it is
encrypted for; quoting a 6 MB message verbatim made every reply to it fail to encode. The official
apps quote a preview: the content without its thumbnails and without the quote inside it, the text
shortened. `bounded_quote` does the same in steps until the copy is at most QUOTE_LIMIT bytes:
1. thumbnails (`*Thumbnail` bytes fields) and nested `contextInfo` removed;
2. text fields (`conversation`, `text`, `caption`) cut to QUOTE_TEXT characters;
3. failing that, a `conversation` holding the shortened text alone (empty for content without text).
"""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message as ProtoMessage

from whatsapp.content import message_text
from whatsapp.proto import e2e_pb2

QUOTE_LIMIT = 32 * 1024  # bytes of the quoted copy (far below the 16 MiB frame even for 1,000 devices)
QUOTE_TEXT = 2048  # characters of quoted text kept when the copy must shrink
_TEXT_FIELDS = ("conversation", "text", "caption")


def _walk(message: ProtoMessage, strip: bool, cut: int | None) -> None:
    for field, value in list(message.ListFields()):
        if strip and (field.name == "contextInfo" or (field.type == FieldDescriptor.TYPE_BYTES
                                                        and field.name.lower().endswith("thumbnail"))):
            message.ClearField(field.name)
        elif cut is not None and field.name in _TEXT_FIELDS and field.type == FieldDescriptor.TYPE_STRING:
            setattr(message, field.name, value[:cut])
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            if field.is_repeated:
                for item in value:
                    _walk(item, strip, cut)
            else:
                _walk(value, strip, cut)


def bounded_quote(message: e2e_pb2.Message, limit: int = QUOTE_LIMIT) -> e2e_pb2.Message:
    """`message` itself when small enough, else a smaller copy as described in the module docstring."""
    if message.ByteSize() <= limit:
        return message
    copy = e2e_pb2.Message()
    copy.CopyFrom(message)
    _walk(copy, strip=True, cut=None)
    if copy.ByteSize() <= limit:
        return copy
    _walk(copy, strip=False, cut=QUOTE_TEXT)
    if copy.ByteSize() <= limit:
        return copy
    preview = e2e_pb2.Message()
    preview.conversation = (message_text(message) or "")[:QUOTE_TEXT]
    return preview
