"""`<call>` stanzas: offers, terminations and the rest of call signalling.

A companion cannot take calls; each call stanza is acknowledged (router prelude: the server
redelivers what is not acked) and raised as `NodeReceived`. Where call events (offer, reject) go: here.
"""

from __future__ import annotations

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.router import StanzaRouter


class Calls:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def install(self, router: StanzaRouter) -> None:
        router.add_prelude("call", self.ctx.ack)
        router.set_default("call", self.on_call)

    async def on_call(self, node: Node) -> None:
        await self.ctx.emit(events.NodeReceived(node))
