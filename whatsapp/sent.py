"""Messages we sent recently, kept so a retry receipt can be answered by encrypting them again.

`SentMessages` is the store's contract (a Protocol, as whatsmeow's retry message store is an
interface); `RecentSent` keeps the last RECENT_SENT in memory, as whatsmeow does by default. The
client uses `StoredSent` (whatsapp/sentstore.py), which keeps them in the session store too, so a
retry receipt is answered after a restart.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2

RECENT_SENT = 256  # messages kept for retry receipts (whatsmeow keeps 256 in memory)


@dataclass(slots=True)
class SentMessage:
    chat: JID
    message: e2e_pb2.Message
    type: str  # the `<message type>` it left with
    resends: dict[str, int] = dataclasses.field(default_factory=dict)  # per device JID


class SentMessages(Protocol):
    async def remember(self, message_id: str, sent: SentMessage) -> None: ...
    async def get(self, message_id: str) -> SentMessage | None: ...
    def __len__(self) -> int: ...


class RecentSent:
    """The last `capacity` sends, oldest forgotten first."""

    def __init__(self, capacity: int = RECENT_SENT) -> None:
        self.capacity = capacity
        self._recent: OrderedDict[str, SentMessage] = OrderedDict()

    async def remember(self, message_id: str, sent: SentMessage) -> None:
        self.keep(message_id, sent)

    def keep(self, message_id: str, sent: SentMessage) -> None:
        self._recent[message_id] = sent
        self._recent.move_to_end(message_id)
        while len(self._recent) > self.capacity:
            self._recent.popitem(last=False)

    async def get(self, message_id: str) -> SentMessage | None:
        return self.peek(message_id)

    def peek(self, message_id: str) -> SentMessage | None:
        return self._recent.get(message_id)

    def __len__(self) -> int:
        return len(self._recent)
