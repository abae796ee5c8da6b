"""The emulator's errors, part of the library's single hierarchy (whatsapp/errors.py).

Several also derive from the built-in class callers caught before this module existed (LookupError,
ValueError, TimeoutError), so `except LookupError` around `server.faults.drop(device)` still works.
"""

from __future__ import annotations

from whatsapp.errors import WhatsAppError


class EmulatorError(WhatsAppError):
    """Base class of every error the emulated server raises on purpose."""


class IQError(EmulatorError):
    """Raised by an IQ handler to answer `<iq type="error"><error code=.. text=../></iq>`.

    `what` labels a 501 for the strictness report (whatsapp/testing/strict.py), e.g. "w:g2".
    """

    def __init__(self, code: int | str, text: str, *, what: str | None = None) -> None:
        self.code = str(code)
        self.text = text
        self.what = what
        super().__init__(f"{code} {text}")


class ConnectionDropped(EmulatorError):
    """The connection ended (closed by either side, dropped or failed) before an awaited answer."""


class QueryTimeout(EmulatorError, TimeoutError):
    """A server-originated IQ got no answer in time."""


class EventTimeout(EmulatorError, TimeoutError):
    """No server event matching a test's predicate was emitted in time."""


class UnknownTarget(EmulatorError, LookupError):
    """A device, connection or companion named by a test does not exist (or is not online)."""


class InvalidAccount(EmulatorError, ValueError):
    """An account that cannot be created: a malformed or duplicate phone number."""
