"""Session upkeep after login: keep-alive pings, passive/active, `<ib>`, and a companion logging
itself out (`remove-companion-device`). The client side is Baileys `src/Socket/socket.ts` (`w:p` pings,
sendPassiveIq, logout) and whatsmeow `keepalive.go`, `connectionevents.go` (SetPassive), `presence.go`.
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.testing import strict
from whatsapp.testing.dispatch import ANSWERED, HandlerContext, Handlers, IQResult, iq_result
from whatsapp.testing.errors import IQError

WEEK_MS = 7 * 24 * 3600 * 1000


def install(handlers: Handlers) -> None:
    handlers.iq("passive", "set")(passive)
    # Keep-alive is `<iq xmlns="w:p" type="get"><ping/></iq>` from both clients (whatsmeow `keepalive.go`,
    # Baileys `src/Socket/socket.ts`); any other w:p IQ is one the emulator does not model (501). It is
    # answered from the end of the handshake on, logged in or not: Baileys starts pinging right after
    # clientFinish, while it still shows QR codes, and WhatsApp keeps such connections.
    handlers.iq("w:p", "get", "ping")(ping)
    handlers.iq("md", "set", "remove-companion-device")(remove_companion)
    handlers.stanza("ib")(info_bulletin)


async def ping(context: HandlerContext, node: Node) -> None:
    return None


async def info_bulletin(context: HandlerContext, node: Node) -> None:
    """A client's `<ib>`: `<offline_batch count/>` (more of the backlog; the emulator sends it all at once) or
    `<unified_session id/>`, the session telemetry both clients send after login and pairing (Baileys
    `src/Socket/socket.ts`, whatsmeow `client.go`): the id is the server's time in ms plus 3 days, modulo a week."""
    for child in node.children:
        if child.tag == "offline_batch":
            continue
        session_id = child.attr_int("id") if child.tag == "unified_session" else None
        if session_id is not None and 0 <= session_id < WEEK_MS:
            context.state.emit("unified_session", connection=context.connection, device=context.device,
                               data={"id": session_id})
            continue
        strict.report(context.state, strict.UNMODELLED, "stanza", f"<ib><{child.tag} {child.attrs}>", node=node,
                      connection=context.connection)


async def passive(context: HandlerContext, node: Node) -> None:
    context.logged_in()
    child = node.children[0].tag if node.children else "passive"
    context.connection.active = child == "active"


async def remove_companion(context: HandlerContext, node: Node) -> IQResult:
    """A companion unlinks itself (Baileys `logout`, whatsmeow `Logout`) or another companion of the account.

    The device leaves the account's list first (the other devices hear of it), then the IQ is answered;
    a device that removed itself is then disconnected as the phone's "Log out" does it (401 device_removed):
    its session is dead, and the server does not keep a connection for a device it no longer knows."""
    device = context.logged_in()
    remove = node.child("remove-companion-device")
    target_jid = remove.attr_jid("jid") if remove else None
    target = context.state.device_for(target_jid) if target_jid else None
    if target is None or target.account is not device.account or target.is_primary:
        raise IQError(404, "item-not-found")
    if target is not device:
        await device.account.phone.unlink(target)
        return None
    await device.account.phone.unlink(target, notify_self=False)
    await context.connection.send_node(iq_result(node.attr_str("id") or ""))
    await context.connection.close_with_stream_error("401", conflict="device_removed")
    return ANSWERED
