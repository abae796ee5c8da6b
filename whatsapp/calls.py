"""`<call>` stanzas: offers, terminations and the rest of call signalling (whatsmeow `call.go`).

A companion cannot take calls. Each call stanza is acknowledged (router prelude: the server redelivers
what is not acked). `<call from id t [offline]><offer call-id call-creator>…</offer></call>` becomes
`CallOffered` (video when the offer has a `<video>` child); `<terminate>` and `<reject>` (the caller gave
up, or another of our devices declined) become `CallEnded`; the rest stays raw (`NodeReceived`).
`reject(event)` declines an offer as the apps do: `<call from=US to=CALLER id><reject call-id
call-creator count="0"/></call>`; the server's `<ack class="call" type="reject">` needs no answer.
"""

from __future__ import annotations

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.jid import JID
from whatsapp.router import StanzaRouter


def parse_call(node: Node) -> events.Event | None:
    source = node.try_attr_jid("from")
    if source is None or len(node.children) != 1:
        return None
    child = node.children[0]
    call_id = child.attr_str("call-id")
    creator = child.try_attr_jid("call-creator") or source
    if not call_id:
        return None
    if child.tag == "offer":
        return events.CallOffered(call_id, source, creator, node.attr_int("t", 0) or 0,
                                  child.child("video") is not None, node.attrs.get("offline") is not None, node)
    if child.tag in ("terminate", "reject"):
        return events.CallEnded(call_id, source, child.attr_str("reason") or child.tag, node)
    return None


class Calls:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def install(self, router: StanzaRouter) -> None:
        router.add_prelude("call", self.ctx.ack)
        router.set_default("call", self.on_call)

    async def on_call(self, node: Node) -> None:
        await self.ctx.emit(parse_call(node) or events.NodeReceived(node))

    async def reject(self, caller: JID, call_id: str, creator: JID | None = None) -> None:
        """Decline a ringing call. Not waiting for the server's ack (as whatsmeow RejectCall): handlers of
        CallOffered run on the reader, which must stay free to read that ack."""
        me = self.ctx.me_id
        attrs: dict[str, str | JID] = {"id": self.ctx.new_id(), "to": caller.to_non_ad()}
        if me:
            attrs["from"] = JID.parse(me).to_non_ad()
        reject = Node("reject", {"call-id": call_id, "call-creator": (creator or caller).to_non_ad(), "count": "0"})
        await self.ctx.send(Node("call", attrs, [reject]))
