"""The reconnect policy as a pure function: disconnect reason → action + delay (sans-I/O, injectable RNG)."""

from __future__ import annotations

import random

import pytest

from whatsapp.binary import Node
from whatsapp.reconnect import (
    Action,
    DisconnectKind,
    DisconnectReason,
    ReconnectPolicy,
    reason_from_failure,
    reason_from_stream_error,
)


class MaxRandom:
    """Full jitter's upper bound, so the exponential ceiling itself is visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


def stream_error(code: str | None = None, conflict: str | None = None) -> Node:
    attrs = {} if code is None else {"code": code}
    content = [Node("conflict", {"type": conflict})] if conflict else None
    return Node("stream:error", attrs, content)


@pytest.mark.parametrize(
    ("node", "kind", "code"),
    [
        (stream_error("515"), DisconnectKind.RESTART, 515),
        (stream_error("401", "device_removed"), DisconnectKind.LOGGED_OUT, 401),
        (stream_error(None, "replaced"), DisconnectKind.REPLACED, 440),
        (stream_error("503"), DisconnectKind.TRANSIENT, 503),
        (stream_error(None), DisconnectKind.TRANSIENT, 500),
        (Node("failure", {"reason": "401"}), DisconnectKind.LOGGED_OUT, 401),
        (Node("failure", {"reason": "403"}), DisconnectKind.LOGGED_OUT, 403),
        (Node("failure", {"reason": "406"}), DisconnectKind.LOGGED_OUT, 406),
        (Node("failure", {"reason": "405"}), DisconnectKind.OUTDATED, 405),
        (Node("failure", {"reason": "500"}), DisconnectKind.TRANSIENT, 500),
        (Node("failure", {"reason": "503"}), DisconnectKind.TRANSIENT, 503),
        (Node("failure", {"reason": "409"}), DisconnectKind.FATAL, 409),
    ],
)
def test_classification(node: Node, kind: DisconnectKind, code: int) -> None:
    reason = reason_from_stream_error(node) if node.tag == "stream:error" else reason_from_failure(node)
    assert reason.kind is kind
    assert reason.code == code


def test_temporary_ban_carries_expiry() -> None:
    reason = reason_from_failure(Node("failure", {"reason": "402", "code": "101", "expire": "3600"}))
    assert reason.kind is DisconnectKind.TEMPORARY_BAN
    assert reason.ban_code == 101
    decision = ReconnectPolicy().decide(reason)
    assert decision.action is Action.RECONNECT
    assert decision.delay == 3600
    no_expiry = reason_from_failure(Node("failure", {"reason": "402"}))
    assert ReconnectPolicy().decide(no_expiry).action is Action.STOP


def test_restart_is_immediate_and_not_a_failure() -> None:
    policy = ReconnectPolicy(rng=MaxRandom())
    for _ in range(5):
        decision = policy.decide(DisconnectReason(DisconnectKind.RESTART, 515, "restart"))
        assert (decision.action, decision.delay) == (Action.RECONNECT, 0.0)
        assert decision.level == "INFO"
    assert policy.failures == 0


def test_transient_backoff_is_exponential_capped_and_resets_on_open() -> None:
    policy = ReconnectPolicy(rng=MaxRandom())
    delays = [policy.decide(DisconnectReason.network("refused")).delay for _ in range(9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    policy.on_open()
    assert policy.decide(DisconnectReason.connection_closed()).delay == 1


def test_full_jitter_stays_within_ceiling() -> None:
    policy = ReconnectPolicy(rng=random.Random(7))
    for failures in range(1, 30):
        delay = policy.decide(DisconnectReason.keepalive_timeout("silent")).delay
        assert 0 <= delay <= min(60, 2 ** (failures - 1))


@pytest.mark.parametrize("kind", [DisconnectKind.REPLACED, DisconnectKind.OUTDATED, DisconnectKind.FATAL])
def test_stop_cases(kind: DisconnectKind) -> None:
    decision = ReconnectPolicy().decide(DisconnectReason(kind, 0, "x"))
    assert decision.action is Action.STOP
    assert decision.level in ("ERROR", "CRITICAL")
    assert not decision.clear_session


def test_logged_out_clears_and_optionally_pairs_again() -> None:
    reason = DisconnectReason(DisconnectKind.LOGGED_OUT, 401, "device removed")
    library = ReconnectPolicy().decide(reason)
    assert library.clear_session and library.action is Action.STOP
    daemon = ReconnectPolicy(pair_again_after_logout=True).decide(reason)
    assert daemon.clear_session and daemon.action is Action.RECONNECT


def test_qr_exhaustion_pauses_without_counting_as_failure() -> None:
    policy = ReconnectPolicy(qr_pause=30)
    decision = policy.decide(DisconnectReason.qr_exhausted())
    assert decision == decision.__class__(Action.RECONNECT, 30, "INFO", decision.message)
    assert policy.failures == 0


def test_long_outage_escalates_log_level() -> None:
    policy = ReconnectPolicy(alert_after=3, rng=MaxRandom())
    levels = [policy.decide(DisconnectReason.network("down")).level for _ in range(4)]
    assert levels == ["WARNING", "WARNING", "ERROR", "ERROR"]
