"""Message types: what applications see of end-to-end encrypted messages.

`MessageReceived` and `DecryptFailed` are events (defined in `whatsapp.events`, offered here too so
message code has one import place); `send_text`/`send_message` return a `SendResult`, or raise
`whatsapp.errors.SendError` when the server refuses the message (`<ack error=..>`, e.g. 463).
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.events import DecryptFailed, MessageReceived

__all__ = ["DecryptFailed", "MessageReceived", "SendResult"]


@dataclass(frozen=True, slots=True)
class SendResult:
    id: str
    timestamp: int | None
    devices: int  # how many device copies were encrypted (incl. our own other devices)
