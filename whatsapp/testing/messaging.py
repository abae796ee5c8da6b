"""Messaging handlers: the server's Router (routing.py, sans-I/O) plugged into its handler table.

usync, prekey-bundle and group IQs are answered from the Router's `Outcome`; message, receipt, ack and
chatstate stanzas are routed and their copies delivered (delivery.py); at login the device's offline
queue is flushed before `<ib><offline count=N/>`. Receipts and acks confirm delivered messages, and a
closing connection hands back what it left unconfirmed (unacked.py: at-least-once delivery).
"""

from __future__ import annotations

from collections.abc import Sequence

from loguru import logger

from whatsapp.binary import Node
from whatsapp.testing.delivery import deliver, take_offline
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.routing import Router
from whatsapp.testing.unacked import requeue, settle, track

ROUTED_STANZAS = ("message", "receipt", "ack", "chatstate")


def install(handlers: Handlers, router: Router) -> None:
    """Register the routing handlers of `router` (one per server) on `handlers`."""

    async def answer(context: HandlerContext, iq: Node) -> Sequence[Node]:
        outcome = router.answer_iq(context.logged_in(), iq)
        await deliver(outcome.deliveries)
        return outcome.replies

    handlers.iq("usync")(answer)
    handlers.iq("encrypt", "get", "key")(answer)
    handlers.iq("w:g2")(answer)

    async def stanza(context: HandlerContext, node: Node) -> None:
        device = context.device
        if device is None:
            logger.debug("emulator: {} before login ignored", node.tag)
            return
        if node.tag in ("receipt", "ack"):
            settle(device, node)
        outcome = router.handle(device, node)
        await deliver(outcome.deliveries)
        for reply in outcome.replies:
            await context.connection.send_node(reply)

    for tag in ROUTED_STANZAS:
        handlers.stanza(tag)(stanza)
    handlers.on_login(deliver_offline)
    handlers.on_close(hand_back)


async def deliver_offline(context: HandlerContext) -> int:
    """Send the stanzas queued while the device was away, marked `offline`; how many were sent."""
    device = context.device
    if device is None:
        return 0
    nodes = take_offline(device)
    for node in nodes:
        await context.connection.send_node(node)
        track(device, context.connection, node)
    if nodes:
        logger.info("emulator: delivered {} offline stanzas to {}", len(nodes), device.jid)
    return len(nodes)


async def hand_back(context: HandlerContext) -> None:
    """A connection closed: its unconfirmed messages wait for the next login (or go to the device's newer
    connection at once, when it logged in again before this one was cleaned up)."""
    device = context.device
    if device is None:
        return
    count = requeue(device, context.connection)
    if not count:
        return
    logger.debug("emulator: {} unconfirmed messages of {} kept for redelivery", count, device.jid)
    newer = device.connection
    if newer is not None and newer is not context.connection and newer.is_open:
        for node in take_offline(device):
            await newer.send_node(node)
            track(device, newer, node)
