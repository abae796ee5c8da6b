"""The sent-message store in the session store: retry receipts are answered after a restart too.

whatsmeow keeps a retry message store (`GetMessageForRetry`); ours lives in the auth state, so the
folder and MongoDB stores keep it with the session: each send is one `KeyType.SENT_MESSAGE` record,
listed in a bounded ring (whatsapp/ring.py) that prunes the oldest beyond SENT_MAX records or
SENT_MAX_AGE seconds. The last RECENT_SENT sends also stay in memory (with their per-device resend
counts), so a retry receipt for a fresh send never reads the store. A message bigger than
MAX_STORED is kept in memory only (its retry is then answered until the next restart).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.auth import AuthState, KeyType
from whatsapp.errors import DecodeError, WhatsAppError
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.ring import Ring
from whatsapp.sent import RECENT_SENT, RecentSent, SentMessage

SENT_MAX = 5_000
SENT_MAX_AGE = 3 * 24 * 3600.0
MAX_STORED = 256 * 1024  # bytes of one serialised message kept in the store


def encode_sent(sent: SentMessage, now: float) -> bytes:
    return json.dumps({"c": str(sent.chat), "y": sent.type, "t": int(now),
                       "m": base64.b64encode(sent.message.SerializeToString()).decode()}).encode()


def decode_sent(raw: bytes) -> SentMessage:
    try:
        data = json.loads(raw)
        message = e2e_pb2.Message()
        message.ParseFromString(base64.b64decode(data["m"]))
        return SentMessage(JID.parse(data["c"]), message, str(data["y"]))
    except (ValueError, KeyError, TypeError, ProtobufDecodeError, DecodeError) as exc:
        raise DecodeError(f"unreadable sent-message record: {exc}") from None


class StoredSent:
    def __init__(self, auth: AuthState, *, memory: int = RECENT_SENT, clock: Callable[[], float] = time.time) -> None:
        self.auth = auth
        self.recent = RecentSent(memory)
        self.ring = Ring("sent", KeyType.SENT_MESSAGE, max_count=SENT_MAX, max_age=SENT_MAX_AGE)
        self._clock = clock
        self._lock = asyncio.Lock()  # over the ring's head: one add at a time

    async def remember(self, message_id: str, sent: SentMessage) -> None:
        self.recent.keep(message_id, sent)
        now = self._clock()
        data = encode_sent(sent, now)
        if len(data) > MAX_STORED:
            logger.debug("message {} is {} bytes: kept in memory only for retries", message_id, len(data))
            return
        try:
            async with self._lock, self.auth.transaction() as tx:
                tx.set(KeyType.SENT_MESSAGE, message_id, data)
                await self.ring.add(tx, message_id, now)
        except WhatsAppError as exc:  # the send itself must not fail because its copy could not be kept
            logger.warning("message {} not kept for retry receipts: {}", message_id, exc)

    async def get(self, message_id: str) -> SentMessage | None:
        found = self.recent.peek(message_id)
        if found is not None:
            return found
        raw = (await self.auth.get(KeyType.SENT_MESSAGE, [message_id])).get(message_id)
        if raw is None:
            return None
        try:
            sent = decode_sent(raw)
        except DecodeError as exc:
            logger.warning("message {}: {}", message_id, exc)
            return None
        self.recent.keep(message_id, sent)  # its resend counts live in memory from now on
        return sent

    def __len__(self) -> int:
        return len(self.recent)
