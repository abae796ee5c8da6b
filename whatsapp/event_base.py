"""The root of every event class, apart from whatsapp/events.py so that event modules beside it (such as
whatsapp/events_status.py) can subclass it without an import cycle; whatsapp/events.py re-exports it."""

from __future__ import annotations


class Event:
    """Base class of every event; subscribe to it to receive all of them."""
