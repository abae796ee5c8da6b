"""Calls on the emulated server: a contact's offer, and a companion declining it (whatsmeow `call.go`).

The emulator carries no media. `offer(caller, callee)` stands for the caller's phone ringing the callee:
every online companion of the callee gets `<call from=CALLER id t notify><offer call-id call-creator>
<audio enc="opus" rate="16000"/>[<video/>]</offer></call>` (the real offer also holds the call key in an
`<enc>`, which a companion that cannot answer never opens). A client declines with `<call to=CALLER id>
<reject call-id call-creator count/></call>`: the server acks it (`<ack class="call" id type="reject">`),
tells the caller's devices and the callee's other companions `<call from=DECLINER><reject …/></call>`,
and emits `call_rejected` (data: call_id, by). An offer emits `call_offered` (data: call_id, to).
"""

from __future__ import annotations

import secrets

from loguru import logger

from whatsapp.binary import Node
from whatsapp.testing import strict
from whatsapp.testing.delivery import now
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.state import Account, Device, ServerState


class CallService:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.calls: dict[str, tuple[Device, Account]] = {}  # ringing: call id -> (caller, callee)

    def install(self, handlers: Handlers) -> None:
        handlers.stanza("call")(self.on_call)

    async def offer(self, caller: Device, callee: Account, *, video: bool = False) -> str:
        """Ring `callee` from `caller`; returns the call id."""
        call_id = secrets.token_hex(16).upper()
        self.calls[call_id] = (caller, callee)
        media = [Node("audio", {"enc": "opus", "rate": "16000"}), Node("audio", {"enc": "opus", "rate": "8000"})]
        if video:
            media.append(Node("video", {"enc": "vp8", "dec": "vp8", "orientation": "0", "screen_width": "1080"}))
        offer = Node("offer", {"call-id": call_id, "call-creator": caller.jid}, media)
        for device in callee.companions():
            connection = device.connection
            if connection is not None and connection.is_open:
                await connection.send_node(Node("call", {"from": caller.jid, "id": connection.next_iq_id(),
                                                         "t": str(now()), "notify": caller.account.push_name},
                                                [offer]))
        self.state.emit("call_offered", account=callee, device=caller, data={"call_id": call_id, "to": callee})
        return call_id

    async def on_call(self, context: HandlerContext, node: Node) -> None:
        device = context.device
        child = node.children[0] if len(node.children) == 1 else None
        if device is None or child is None or child.tag != "reject" or not node.attr_str("id"):
            strict.report(context.state, strict.UNMODELLED, "stanza", f"<call> {node}", node=node,
                          connection=context.connection)
            return
        call_id = child.attr_str("call-id") or ""
        await context.connection.send_node(Node("ack", {"class": "call", "id": node.attrs["id"], "type": "reject",
                                                        "from": node.attrs.get("to", "")}))
        ringing = self.calls.pop(call_id, None)
        if ringing is None:
            logger.info("emulator: reject of unknown call {}", call_id)
            return
        caller, callee = ringing
        notice = Node("reject", {"call-id": call_id, "call-creator": caller.jid})
        for other in [*caller.account.linked_devices(), *callee.companions()]:
            connection = other.connection
            if other is not device and connection is not None and connection.is_open:
                await connection.send_node(Node("call", {"from": device.jid, "id": connection.next_iq_id(),
                                                         "t": str(now())}, [notice]))
        self.state.emit("call_rejected", account=callee, device=device, data={"call_id": call_id, "by": device})
