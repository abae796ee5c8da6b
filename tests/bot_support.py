"""Shared pieces of the bot framework tests: a received message, a fake client, captured log lines."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator

from loguru import logger

from whatsapp import events
from whatsapp.events import Event, MessageReceived
from whatsapp.jid import JID
from whatsapp.proto import e2e_pb2
from whatsapp.reconnect import DisconnectReason, ReconnectPolicy


def disconnected() -> events.Disconnected:
    reason = DisconnectReason.closed_by_user()
    return events.Disconnected(reason, ReconnectPolicy().decide(reason))


def received(text: str | None, chat: str = "1@s.whatsapp.net", *, sender: str = "1:2@s.whatsapp.net",
             group: bool = False, from_me: bool = False, age: float = 0.0, message_id: str = "X") -> MessageReceived:
    message = e2e_pb2.Message(conversation=text) if text is not None else e2e_pb2.Message()
    return MessageReceived(chat=JID.parse(chat), sender=JID.parse(sender), id=message_id,
                           timestamp=int(time.time() - age), push_name="Ann", from_me=from_me, is_group=group,
                           offline=age > 0, message=message)


class FakeClient:
    """What the framework uses of a client: add_handler (-> unsubscribe), hold (-> release), send_text,
    mark_read and typing (both recorded)."""

    def __init__(self) -> None:
        self.read: list[str] = []  # ids marked read
        self.typing_log: list[tuple[str, str]] = []  # (chat, "start" | "stop")
        self.sent: list[tuple[str, str, str | None]] = []
        self.sent_ids: list[str | None] = []
        self.handlers: list[tuple[type[Event], Callable[[Event], object]]] = []
        self.releases: list[tuple[str, bool]] = []  # (message id, handled) as the dispatcher released them

    async def send_text(self, jid: object, text: str, *, quoted: MessageReceived | None = None,
                        message_id: str | None = None) -> None:
        self.sent.append((str(jid), text, quoted.id if quoted else None))
        self.sent_ids.append(message_id)

    async def mark_read(self, event: MessageReceived) -> None:
        self.read.append(event.id)

    @contextlib.asynccontextmanager
    async def typing(self, chat: object, state: str = "composing") -> AsyncIterator[None]:
        self.typing_log.append((str(chat), "start"))
        try:
            yield
        finally:
            self.typing_log.append((str(chat), "stop"))

    def hold(self, event: MessageReceived) -> Callable[[bool], None]:
        return lambda handled: self.releases.append((event.id, handled))

    def add_handler(self, event_type: type[Event], handler: Callable[[Event], object]) -> Callable[[], None]:
        entry = (event_type, handler)
        self.handlers.append(entry)
        return lambda: self.handlers.remove(entry)

    def emit(self, event: Event) -> None:
        for event_type, handler in list(self.handlers):
            if isinstance(event, event_type):
                handler(event)


def capture_logs() -> Iterator[list[str]]:
    """For a `log_lines` fixture: every log line ("LEVEL message") from DEBUG up while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(f"{m.record['level'].name} {m.record['message']}"), level="DEBUG")
    yield lines
    logger.remove(sink)


def texts(client: FakeClient) -> list[str]:
    return [text for _, text, _ in client.sent]
