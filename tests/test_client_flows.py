"""The client's flows without a socket: pairing and QR rotation, the offline backlog, the supervisor's
end-of-connection rules, the stanza router, the inbox, the receiver's acks and the public facade."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import deque

import pytest

import whatsapp
from tests.client_support import Rig
from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.binary import Node
from whatsapp.client import Client
from whatsapp.connection import disconnect_events
from whatsapp.errors import PairingError, PairRejected, StorageError, WhatsAppError
from whatsapp.inbox import Inbox
from whatsapp.jid import JID
from whatsapp.offline import BacklogState, OfflineBacklog
from whatsapp.pairing import PairingSession, PairingStep, QrRotation
from whatsapp.pairing_flow import PairingConfig, PairingFlow
from whatsapp.receive import Receiver
from whatsapp.reconnect import Action, DisconnectKind, DisconnectReason, ReconnectPolicy, classify_end
from whatsapp.router import Route, StanzaHandler, StanzaRouter
from whatsapp.upkeep import LoginUpkeep, UpkeepConfig


def pair_device(*refs: bytes) -> Node:
    return Node("iq", {"id": "pd1", "type": "set", "from": "s.whatsapp.net"},
                [Node("pair-device", {}, [Node("ref", {}, ref) for ref in refs])])


# ---- pairing (pure) -----------------------------------------------------------------------------------


def test_qr_rotation_shows_each_ref_once_60_then_20_then_is_exhausted() -> None:
    rotation = QrRotation([b"a", b"b", b"c"])
    shown = []
    while (step := rotation.next()) is not None:
        shown.append((step.ref, step.index, step.total, step.timeout))
    assert shown == [(b"a", 0, 3, 60.0), (b"b", 1, 3, 20.0), (b"c", 2, 3, 20.0)]
    assert rotation.exhausted and rotation.next() is None


def test_pairing_session_orders_its_steps() -> None:
    session = PairingSession()
    reply, rotation = session.on_pair_device(pair_device(b"r1", b"r2"), 1.0, 0.5)
    assert reply.attrs["type"] == "result" and reply.attrs["id"] == "pd1"
    assert session.step is PairingStep.SHOWING_QR and rotation.next() is not None
    # The phone's confirmation and the server's code answer may not come before we asked for a code.
    with pytest.raises(PairingError):
        session.on_link_code(Node("notification"), MemoryAuthState().creds, "15550001111", "x")
    with pytest.raises(PairingError):
        session.on_hello_answer(Node("iq"))


def test_a_forged_pair_success_changes_nothing() -> None:
    session = PairingSession()
    creds = MemoryAuthState().creds
    forged = Node("iq", {"id": "ps1", "type": "set"}, [Node("pair-success", {}, [
        Node("device-identity", {}, b"\x0a\x03abc"),
        Node("device", {"jid": JID.parse("15550001111:7@s.whatsapp.net")}),
    ])])
    with pytest.raises(PairRejected) as rejected:
        session.on_pair_success(forged, creds)
    assert rejected.value.reply.attrs["type"] == "error"
    assert session.step is PairingStep.IDLE  # still waiting for a genuine one


async def test_pairing_flow_rotates_qrs_on_the_context_clock_then_ends_the_connection() -> None:
    rig = Rig()
    flow = PairingFlow(rig.ctx, PairingConfig(qr_timeouts=(60.0, 20.0)))
    await flow.on_pair_device(pair_device(b"r1", b"r2", b"r3"))
    await rig.control.settle()
    assert rig.link.sent[0].attrs == {"to": JID.parse("s.whatsapp.net"), "type": "result", "id": "pd1"}
    qrs = rig.of(events.QR)
    assert [(q.index, q.total, q.timeout) for q in qrs] == [(0, 3, 60.0), (1, 3, 20.0), (2, 3, 20.0)]  # type: ignore[attr-defined]
    assert len({q.code for q in qrs}) == 3  # type: ignore[attr-defined]
    assert rig.clock.sleeps == [60.0, 20.0, 20.0]  # no real time passed
    assert [r.kind for r in rig.control.ended] == [DisconnectKind.QR_EXHAUSTED]


async def test_pairing_flow_with_a_phone_number_shows_no_qr() -> None:
    rig = Rig()
    flow = PairingFlow(rig.ctx, PairingConfig(phone_number="15550001111"))
    flow._request_pairing_code = lambda phone: asyncio.sleep(0)  # type: ignore[method-assign,assignment,return-value]
    await flow.on_pair_device(pair_device(b"r1"))
    await rig.control.settle()
    assert not rig.of(events.QR) and rig.control.ended  # the ref still times out


# ---- the offline backlog ---------------------------------------------------------------------------------


def test_offline_backlog_marker_and_deadline() -> None:
    backlog = OfflineBacklog()
    assert backlog.expire() is None  # not logged in: nothing to time out
    backlog.start()
    assert backlog.state is BacklogState.WAITING
    timed_out = backlog.expire()
    assert timed_out == events.OfflineSyncCompleted(0, timed_out=True)
    assert backlog.expire() is None  # once
    assert backlog.on_marker(7) == events.OfflineSyncCompleted(7)  # a late marker still reports its count
    backlog.start()
    backlog.on_marker(2)
    assert backlog.done and backlog.expire() is None


async def test_upkeep_watchdog_times_out_on_the_context_clock() -> None:
    rig = Rig()
    upkeep = LoginUpkeep(rig.ctx, UpkeepConfig(offline_timeout=30.0))
    upkeep.backlog.start()
    await upkeep._offline_watchdog()
    assert rig.clock.sleeps == [30.0]
    assert rig.of(events.OfflineSyncCompleted) == [events.OfflineSyncCompleted(0, timed_out=True)]

    rig = Rig()
    upkeep = LoginUpkeep(rig.ctx, UpkeepConfig(offline_timeout=30.0))
    upkeep.backlog.start()
    await upkeep.offline_marker(4)
    await upkeep._offline_watchdog()
    assert rig.of(events.OfflineSyncCompleted) == [events.OfflineSyncCompleted(4)]


async def test_offline_preview_asks_for_a_batch() -> None:
    rig = Rig()
    await LoginUpkeep(rig.ctx, UpkeepConfig()).offline_preview({"message": 3})
    assert rig.of(events.OfflineSyncPreview) == [events.OfflineSyncPreview({"message": 3})]
    batch = rig.link.sent[0]
    assert batch.tag == "ib" and batch.children[0].attrs == {"count": "100"}


# ---- the supervisor's rules ------------------------------------------------------------------------------


def test_end_of_connection_rules() -> None:
    logged_out = DisconnectReason(DisconnectKind.LOGGED_OUT, 401, "device removed")
    # A registering connection has no session to lose: its "logged out" is a refused attempt.
    refused = classify_end(logged_out, was_paired=False, stop_requested=False)
    assert refused.kind is DisconnectKind.TRANSIENT and "pairing refused" in refused.text
    assert classify_end(logged_out, was_paired=True, stop_requested=False) is logged_out
    # Whatever ends a connection the app is closing is the app's close, except a logout.
    network = DisconnectReason.network("reset")
    assert classify_end(network, was_paired=True, stop_requested=True).kind is DisconnectKind.CLOSED_BY_USER
    assert classify_end(logged_out, was_paired=True, stop_requested=True) is logged_out
    assert classify_end(logged_out, was_paired=False, stop_requested=True).kind is DisconnectKind.CLOSED_BY_USER


def test_each_ended_connection_raises_disconnected_then_its_specific_event() -> None:
    policy = ReconnectPolicy()
    replaced = DisconnectReason(DisconnectKind.REPLACED, 440, "replaced")
    raised = disconnect_events(replaced, policy.decide(replaced))
    assert [type(e) for e in raised] == [events.Disconnected, events.Replaced]
    restart = DisconnectReason(DisconnectKind.RESTART, 515, "restart")
    decision = policy.decide(restart)
    assert decision.action is Action.RECONNECT
    assert [type(e) for e in disconnect_events(restart, decision)] == [events.Disconnected]


# ---- the router ------------------------------------------------------------------------------------------


async def test_router_prelude_routes_default_and_fallback() -> None:
    seen: list[str] = []

    def record(name: str) -> StanzaHandler:
        async def handler(node: Node) -> None:
            seen.append(f"{name}:{node.tag}")
        return handler

    router = StanzaRouter(record("fallback"))
    router.add_prelude("receipt", record("ack"))
    router.add(Route("notification", record("devices"), type="devices"))
    router.set_default("notification", record("other"))
    router.add(Route("notification", record("prekeys"), type="encrypt", child="count"))
    await router.dispatch(Node("notification", {"type": "devices"}))
    await router.dispatch(Node("notification", {"type": "encrypt"}, [Node("count", {"value": "3"})]))
    await router.dispatch(Node("notification", {"type": "encrypt"}))  # no <count>: the default
    await router.dispatch(Node("presence"))
    await router.dispatch(Node("receipt"))
    assert seen == ["devices:notification", "prekeys:notification", "other:notification", "fallback:presence",
                    "ack:receipt", "fallback:receipt"]
    with pytest.raises(ValueError):
        router.set_default("notification", record("again"))


async def test_router_acks_after_the_handler_unless_nothing_could_be_stored() -> None:
    seen: list[str] = []

    async def ack(node: Node) -> None:
        seen.append(f"ack:{node.attrs['id']}")

    async def handler(node: Node) -> None:
        seen.append(f"handled:{node.attrs['id']}")
        if node.attrs["id"] == "bug":
            raise ValueError("a handler's bug")
        if node.attrs["id"] == "disk":
            raise StorageError("the store refused")

    router = StanzaRouter(handler)
    router.add_ack("notification", ack)
    await router.dispatch(Node("notification", {"id": "ok"}))
    with pytest.raises(ValueError):
        await router.dispatch(Node("notification", {"id": "bug"}))  # acked all the same: no endless resend
    with pytest.raises(StorageError):
        await router.dispatch(Node("notification", {"id": "disk"}))  # not stored: not acked, sent again
    await router.dispatch(Node("receipt", {"id": "other"}))  # no ack registered for the tag
    assert seen == ["handled:ok", "ack:ok", "handled:bug", "ack:bug", "handled:disk", "handled:other"]


def test_the_clients_table_routes_every_known_stanza() -> None:
    client = Client(MemoryAuthState())
    router = client._router
    for node, expected in [
        (Node("iq", {"type": "result"}), "iq type=result"),
        (Node("iq", {"type": "set"}, [Node("pair-device")]), "iq child=pair-device"),
        (Node("iq", {"type": "get", "xmlns": "urn:xmpp:ping"}), "iq xmlns=urn:xmpp:ping"),
        (Node("notification", {"type": "encrypt"}, [Node("count")]), "notification type=encrypt child=count"),
        (Node("notification", {"type": "link_code_companion_reg"}), "notification type=link_code_companion_reg"),
        (Node("receipt", {"type": "retry"}, [Node("retry")]), "receipt type=retry child=retry"),
        (Node("message"), "message"),
        (Node("success"), "success"),
        (Node("ib"), "ib"),
    ]:
        route = router.route_for(node)
        assert route is not None and route.describe() == f"<{expected}>", node
    assert "<receipt> (default)" in router.table() and "<call> (default)" in router.table()


# ---- the inbox -------------------------------------------------------------------------------------------


async def test_inbox_delivers_in_order_off_the_caller_and_drains() -> None:
    delivered: list[int] = []
    release = asyncio.Event()

    async def emit(event: events.Event) -> None:
        await release.wait()  # a slow handler: put() must not wait for it
        delivered.append(event.count)  # type: ignore[attr-defined]

    inbox = Inbox(emit)
    inbox.start()
    for i in range(3):
        await inbox.put(events.OfflineSyncCompleted(i))
    assert delivered == [] and inbox.pending >= 2
    release.set()
    await inbox.drain(timeout=5)
    assert delivered == [0, 1, 2]


# ---- the receiver's acks ---------------------------------------------------------------------------------


def paired_rig() -> Rig:
    auth = MemoryAuthState()
    auth.creds = dataclasses.replace(auth.creds, me_id="15550009999:1@s.whatsapp.net", account=b"acct")
    return Rig(auth)


async def test_receiver_acks_plaintext_and_nacks_unreadable_envelopes() -> None:
    rig = paired_rig()
    receiver = Receiver(rig.ctx)
    sender = JID.parse("15551112222:3@s.whatsapp.net")
    await receiver.handle(Node("message", {"id": "P1", "from": sender, "t": "1"}, [Node("unavailable")]))
    await receiver.handle(Node("message", {"from": sender}, []))  # no id
    plain, nack = rig.link.sent
    assert plain.attrs == {"id": "P1", "to": sender, "class": "message", "from": "15550009999:1@s.whatsapp.net"}
    assert nack.attrs["error"] == "487" and nack.attrs["class"] == "message"
    assert not rig.delivered


async def test_receiver_ignores_messages_before_pairing() -> None:
    rig = Rig()
    assert await Receiver(rig.ctx).handle(Node("message", {"id": "X", "from": "1@s.whatsapp.net"})) is None
    assert not rig.link.sent


# ---- the facade ------------------------------------------------------------------------------------------


async def test_add_handler_returns_unsubscribe_and_on_is_a_method() -> None:
    client = Client(MemoryAuthState())
    seen: list[str] = []
    unsubscribe = client.add_handler(events.QR, lambda e: seen.append(e.code))
    client.add_handler(events.QR, lambda e: seen.append("second " + e.code))
    await client.bus.emit(events.QR("a", 0, 1, 1.0))
    unsubscribe()
    unsubscribe()  # harmless twice
    await client.bus.emit(events.QR("b", 0, 1, 1.0))
    assert seen == ["a", "second a", "second b"]
    assert "on" not in vars(client) and "add_handler" not in vars(client)  # real methods, not aliases
    assert not hasattr(client, "dispatcher")  # the bot's dispatcher is not the library's business
    with pytest.raises(TypeError):
        client.add_handler(str, print)  # type: ignore[arg-type]


def test_history_is_bounded() -> None:
    client = Client(MemoryAuthState())
    assert isinstance(client.history, deque) and client.history.maxlen


async def test_sending_while_not_connected_raises_connection_gone() -> None:
    client = Client(MemoryAuthState())
    with pytest.raises(whatsapp.ConnectionGone):
        await client.send_text("15550001111@s.whatsapp.net", "hi")


def test_public_api() -> None:
    for name in whatsapp.__all__:
        assert getattr(whatsapp, name) is not None, name
    assert whatsapp.events.MessageReceived is whatsapp.MessageReceived
    assert issubclass(whatsapp.StorageError, WhatsAppError) and issubclass(whatsapp.SocketClosed,
                                                                            whatsapp.TransportError)
    assert issubclass(whatsapp.KeepaliveFailed, whatsapp.TransportError)
    assert whatsapp.SendError("3EB0", 463, "refused").code == 463
    assert not hasattr(events, "__getattr__")  # every event is a real attribute
