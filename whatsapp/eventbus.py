"""The registry that delivers events (whatsapp/events.py) to their handlers.

Handlers are registered with a decorator, aiogram / discord.py style, or with `add_handler`, which
returns a function that removes the registration again::

    @client.on(events.MessageReceived)
    async def got(event: events.MessageReceived) -> None: ...

    unsubscribe = client.add_handler(events.QR, show_qr)

A handler may be a coroutine function or a plain function. A handler that raises is logged and
skipped: an application bug must never take down the connection, nor stop the other handlers.
Subscribing to a class receives its subclasses too (`Event` receives everything).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar, cast

from loguru import logger

from whatsapp.events import Event

E = TypeVar("E", bound=Event)
HandlerResult = Awaitable[None] | None
Unsubscribe = Callable[[], None]


@dataclass(frozen=True, slots=True, eq=False)  # identity, not value: two equal registrations are two
class _Subscription:
    event_type: type[Event]
    handler: Callable[[Event], object]


class EventBus:
    """Maps event classes to handlers; dispatch matches subclasses (subscribe to `Event` for all)."""

    def __init__(self) -> None:
        self._subscriptions: list[_Subscription] = []

    def on(self, event_type: type[E]) -> Callable[[Callable[[E], HandlerResult]], Callable[[E], HandlerResult]]:
        """Decorator form of `add_handler`; returns the handler unchanged."""
        _check_event_type(event_type)

        def register(handler: Callable[[E], HandlerResult]) -> Callable[[E], HandlerResult]:
            self.add_handler(event_type, handler)
            return handler

        return register

    def add_handler(self, event_type: type[E], handler: Callable[[E], HandlerResult]) -> Unsubscribe:
        """Call `handler(event)` for every event of `event_type`; returns the function that unsubscribes."""
        _check_event_type(event_type)
        # emit() only passes instances of event_type, so the narrower parameter type is safe here.
        subscription = _Subscription(event_type, cast("Callable[[Event], object]", handler))
        self._subscriptions.append(subscription)

        def unsubscribe() -> None:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

        return unsubscribe

    def remove_handler(self, handler: Callable[[E], HandlerResult]) -> None:
        """Remove every registration of `handler`, whatever its event type."""
        self._subscriptions = [s for s in self._subscriptions if s.handler is not handler]

    async def emit(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if not isinstance(event, subscription.event_type):
                continue
            handler = subscription.handler
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                name = getattr(handler, "__qualname__", repr(handler))
                logger.exception("event handler {} failed on {}", name, type(event).__name__)


def _check_event_type(event_type: object) -> None:
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        raise TypeError(f"expected an event class, got {event_type!r}")
