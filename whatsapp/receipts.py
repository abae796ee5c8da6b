"""`<receipt>` stanzas: delivery and read receipts from contacts, and retry receipts for our sends.

Every receipt is acknowledged first (router prelude). A retry receipt (`type="retry"`) means a device
could not decrypt a message we sent: answered in a task (whatsapp/resend.py), so the reader never
waits for the prekey fetch it may need. All receipts are raised as `NodeReceived` for applications.
Where receipt events (delivered/read per message) and the `hist_sync` receipt we send go: here.
"""

from __future__ import annotations

from typing import Protocol

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.router import Route, StanzaRouter


class RetryAnswerer(Protocol):
    async def handle_retry(self, node: Node) -> bool: ...


class Receipts:
    def __init__(self, ctx: Context, resender: RetryAnswerer) -> None:
        self.ctx = ctx
        self.resender = resender

    def install(self, router: StanzaRouter) -> None:
        router.add_prelude("receipt", self.ctx.ack)
        router.add(Route("receipt", self.on_retry, type="retry", child="retry"))
        router.set_default("receipt", self.on_receipt)

    async def on_retry(self, node: Node) -> None:
        self.ctx.spawn(self.resender.handle_retry(node), "retry receipt")
        await self.ctx.emit(events.NodeReceived(node))

    async def on_receipt(self, node: Node) -> None:
        await self.ctx.emit(events.NodeReceived(node))
