"""Why a connection ended, and what to do about it: a pure policy, no I/O, injectable randomness.

`reason_from_stream_error` / `reason_from_failure` turn the server's `<stream:error>` and
`<failure>` stanzas into a `DisconnectReason`; transport events (socket closed, keepalive silence,
QR refs used up) have their own constructors. `ReconnectPolicy.decide(reason)` maps a reason to
a `Decision`: reconnect after a delay, or stop, with the log level the event deserves.

The rules (docs/protocol.md §Disconnect codes; Baileys `src/Socket/socket.ts`, whatsmeow `connectionevents.go`):
- 515 restart: reconnect now, no backoff, not a failure.
- 428 / 408 / 500 / 503 / network errors / keepalive silence: exponential backoff with full jitter,
  1 s doubling up to 60 s, reset when a connection opens.
- 440 replaced: never fight the other connection; stop and surface it.
- 401 / device_removed / 403 / 406: logged out; the caller clears the session (and may pair anew).
- 402 temporary ban: wait until it expires.
- 405 client outdated, 409 bad user agent, 411 multi-device mismatch, unknown failures: stop.
- QR refs used up: pause, then offer fresh QRs; not counted as a failure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from whatsapp.binary import Node


class DisconnectKind(StrEnum):
    RESTART = "restart"  # 515
    TRANSIENT = "transient"  # network, 428, 408, 500, 503, keepalive
    REPLACED = "replaced"  # 440
    LOGGED_OUT = "logged_out"  # 401, device_removed, 403, 406
    TEMPORARY_BAN = "temporary_ban"  # 402
    OUTDATED = "outdated"  # 405
    FATAL = "fatal"  # 409, 411, unknown failures: a human must look
    QR_EXHAUSTED = "qr_exhausted"
    CLOSED_BY_USER = "closed_by_user"


class Action(StrEnum):
    RECONNECT = "reconnect"
    STOP = "stop"


# Baileys' Boom codes, used where the server gave no number of its own.
CODE_CONNECTION_CLOSED = 428
CODE_CONNECTION_LOST = 408
CODE_BAD_SESSION = 500
CODE_REPLACED = 440
CODE_MULTIDEVICE_MISMATCH = 411

_LOGGED_OUT_CODES = {401, 403, 406}
_TRANSIENT_FAILURE_CODES = {408, 428, 500, 503}


@dataclass(frozen=True, slots=True)
class DisconnectReason:
    kind: DisconnectKind
    code: int | None
    text: str
    expires_in: float | None = None  # 402 ban: seconds until it lifts
    ban_code: int | None = None

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"{self.kind.value}{code}: {self.text}"

    # ---- transport-side reasons -------------------------------------------------------------
    @classmethod
    def network(cls, error: BaseException | str) -> DisconnectReason:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        return cls(DisconnectKind.TRANSIENT, None, f"network error ({text})")

    @classmethod
    def connection_closed(cls, detail: str = "connection closed") -> DisconnectReason:
        return cls(DisconnectKind.TRANSIENT, CODE_CONNECTION_CLOSED, detail)

    @classmethod
    def keepalive_timeout(cls, detail: str) -> DisconnectReason:
        return cls(DisconnectKind.TRANSIENT, CODE_CONNECTION_LOST, f"keepalive: {detail}")

    @classmethod
    def qr_exhausted(cls) -> DisconnectReason:
        return cls(DisconnectKind.QR_EXHAUSTED, CODE_CONNECTION_LOST, "QR refs used up without a scan")

    @classmethod
    def closed_by_user(cls) -> DisconnectReason:
        return cls(DisconnectKind.CLOSED_BY_USER, None, "closed by the application")

    @classmethod
    def own_logout(cls) -> DisconnectReason:
        """This device unlinked itself (`remove-companion-device`): logged out, and nothing to pair again."""
        return cls(DisconnectKind.LOGGED_OUT, None, "logged out by this device")

    @classmethod
    def multidevice_mismatch(cls) -> DisconnectReason:
        return cls(DisconnectKind.FATAL, CODE_MULTIDEVICE_MISMATCH, "phone has no multi-device support")


def reason_from_stream_error(node: Node) -> DisconnectReason:
    """`<stream:error code=.. >[<conflict type=..>]</stream:error>` → reason."""
    code = node.attr_int("code")
    children = node.children
    conflict = node.child("conflict")
    conflict_type = conflict.attr_str("type", "") if conflict is not None else None
    child_tag = children[0].tag if children else None
    if code == 515:
        return DisconnectReason(DisconnectKind.RESTART, 515, "restart required")
    if conflict_type == "device_removed" or (code == 401 and conflict_type is None):
        return DisconnectReason(DisconnectKind.LOGGED_OUT, 401, "device removed from the phone")
    if conflict is not None:
        # "replaced", or a conflict without a type: another connection holds our keys.
        return DisconnectReason(
            DisconnectKind.REPLACED, CODE_REPLACED, f"connection replaced ({conflict_type or 'conflict'})"
        )
    if code in _LOGGED_OUT_CODES:
        return DisconnectReason(DisconnectKind.LOGGED_OUT, code, f"stream error {code}")
    if code is None:
        return DisconnectReason(DisconnectKind.TRANSIENT, CODE_BAD_SESSION, f"stream error <{child_tag or 'empty'}>")
    return DisconnectReason(DisconnectKind.TRANSIENT, code, f"stream error {code}")


def reason_from_failure(node: Node) -> DisconnectReason:
    """`<failure reason=N [code=..] [expire=..]/>` (sent right after the handshake) → reason."""
    code = node.attr_int("reason")
    if code in _LOGGED_OUT_CODES:
        names = {401: "logged out", 403: "account locked / main device gone", 406: "banned / unknown logout"}
        return DisconnectReason(DisconnectKind.LOGGED_OUT, code, names[code])
    if code == 402:
        expire = node.attr_int("expire")
        return DisconnectReason(
            DisconnectKind.TEMPORARY_BAN,
            402,
            "temporarily banned",
            expires_in=float(expire) if expire is not None and expire > 0 else None,
            ban_code=node.attr_int("code"),
        )
    if code == 405:
        return DisconnectReason(DisconnectKind.OUTDATED, 405, "client version outdated; update the WA Web version")
    if code in _TRANSIENT_FAILURE_CODES:
        return DisconnectReason(DisconnectKind.TRANSIENT, code, f"login failure {code}")
    return DisconnectReason(DisconnectKind.FATAL, code, f"login failure {code}")


def classify_end(reason: DisconnectReason, *, was_paired: bool, stop_requested: bool) -> DisconnectReason:
    """The reason the supervisor acts on, given what the connection was doing when it ended."""
    if not was_paired and reason.kind is DisconnectKind.LOGGED_OUT:
        # A registering connection has no session to lose: the server refused this pairing attempt
        # (e.g. after we rejected a forged pair-success). Retry later.
        reason = DisconnectReason(DisconnectKind.TRANSIENT, reason.code, f"pairing refused ({reason.text})")
    if stop_requested and reason.kind is not DisconnectKind.LOGGED_OUT:
        return DisconnectReason.closed_by_user()  # whatever happened while closing, the app asked for it
    return reason


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    delay: float
    level: str  # loguru level name
    message: str
    clear_session: bool = False  # logged out: wipe the stored session
    counts_as_failure: bool = False


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


class ReconnectPolicy:
    """Disconnect reason → decision. Keeps the consecutive-failure count for the backoff."""

    def __init__(
        self,
        *,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        qr_pause: float = 30.0,
        pair_again_after_logout: bool = False,
        relogin_delay: float = 2.0,
        alert_after: int = 10,
        rng: RandomSource | None = None,
    ) -> None:
        self.alert_after = alert_after
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.qr_pause = qr_pause
        self.pair_again_after_logout = pair_again_after_logout
        self.relogin_delay = relogin_delay
        self.rng: RandomSource = rng or random.Random()
        self.failures = 0

    def on_open(self) -> None:
        """A connection opened (logged in): the next hiccup starts the backoff from scratch."""
        self.failures = 0

    def backoff_ceiling(self, failures: int) -> float:
        return min(self.max_delay, self.base_delay * 2.0 ** max(0, failures - 1))

    def decide(self, reason: DisconnectReason) -> Decision:
        kind = reason.kind
        if kind is DisconnectKind.CLOSED_BY_USER:
            return Decision(Action.STOP, 0.0, "INFO", "connection closed by the application")
        if kind is DisconnectKind.RESTART:
            return Decision(Action.RECONNECT, 0.0, "INFO", "server asked for a restart (515); reconnecting now")
        if kind is DisconnectKind.TRANSIENT:
            self.failures += 1
            delay = self.rng.uniform(0.0, self.backoff_ceiling(self.failures))
            # Past `alert_after` consecutive failures the outage is no hiccup: say so at ERROR.
            level = "ERROR" if self.failures >= self.alert_after else "WARNING"
            return Decision(
                Action.RECONNECT,
                delay,
                level,
                f"connection lost ({reason}); reconnect #{self.failures} in {delay:.1f}s",
                counts_as_failure=True,
            )
        if kind is DisconnectKind.QR_EXHAUSTED:
            return Decision(
                Action.RECONNECT, self.qr_pause, "INFO", f"no QR was scanned; new QR codes in {self.qr_pause:.0f}s"
            )
        if kind is DisconnectKind.REPLACED:
            return Decision(
                Action.STOP,
                0.0,
                "ERROR",
                "another connection with this session took over (440 replaced); not reconnecting, "
                "so the two never kick each other. Is a second instance running?",
            )
        if kind is DisconnectKind.LOGGED_OUT:
            if self.pair_again_after_logout:
                return Decision(
                    Action.RECONNECT,
                    self.relogin_delay,
                    "WARNING",
                    f"logged out ({reason}); session cleared, starting a new pairing",
                    clear_session=True,
                )
            return Decision(Action.STOP, 0.0, "WARNING", f"logged out ({reason}); session cleared", clear_session=True)
        if kind is DisconnectKind.TEMPORARY_BAN:
            if reason.expires_in is not None:
                return Decision(
                    Action.RECONNECT,
                    reason.expires_in,
                    "ERROR",
                    f"account temporarily banned (code {reason.ban_code}); retrying when it lifts in "
                    f"{reason.expires_in:.0f}s",
                )
            return Decision(Action.STOP, 0.0, "ERROR", f"account temporarily banned (code {reason.ban_code}); stopping")
        if kind is DisconnectKind.OUTDATED:
            return Decision(
                Action.STOP,
                0.0,
                "CRITICAL",
                "WhatsApp rejected this client version (405); update the client and restart",
            )
        return Decision(Action.STOP, 0.0, "ERROR", f"connection refused ({reason}); not reconnecting")
