"""Presence on the emulated server: our own `<presence>`, subscriptions, and relaying them (whatsmeow
`presence.go`, Baileys `src/Socket/chats.ts` sendPresenceUpdate / presenceSubscribe / handlePresenceUpdate).

- `<presence type="available|unavailable" [name]>` from a device: its connection's availability (receipts
  count as active only while available) and the account's push name. An account is available while one
  of its connections is; when that changes, every device subscribed to it gets
  `<presence from=USER [type="unavailable" last=T]>` in the addressing it subscribed with.
- `<presence type="subscribe" to=USER>` (a `<tctoken>` child may come along): the device watches that
  user from now on and gets the user's current presence at once, as WhatsApp answers a subscription.
- Presence is live only: nothing is queued for an offline device (WhatsApp does not either). A closed
  connection may make its account unavailable, which is relayed the same way.
Each relayed update emits a `presence_relayed` server event (data: from, to, type) for tests.
"""

from __future__ import annotations

from loguru import logger

from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.jid import JID
from whatsapp.testing import strict
from whatsapp.testing.delivery import now
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.state import Account, Device, ServerState


class PresenceService:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        # Per watched account (phone number): each watching device and the JID it subscribed with.
        self.watchers: dict[str, dict[Device, JID]] = {}
        self._last: dict[str, bool] = {}  # per account, the availability last relayed

    def install(self, handlers: Handlers) -> None:
        handlers.stanza("presence")(self.on_presence)
        handlers.on_close(self.on_close)

    def available(self, account: Account) -> bool:
        return any(d.connection is not None and d.connection.is_open and d.connection.available
                   for d in account.devices.values())

    def presence_node(self, jid: JID, account: Account) -> Node:
        attrs: dict[str, AttrValue] = {"from": jid}
        if not self.available(account):
            attrs.update({"type": "unavailable", "last": str(now())})
        return Node("presence", attrs)

    async def _send(self, watcher: Device, node: Node) -> None:
        connection = watcher.connection
        if connection is None or not connection.is_open:
            return
        await connection.send_node(node)
        self.state.emit("presence_relayed", account=watcher.account, device=watcher,
                        data={"from": node.attrs["from"], "to": watcher.jid, "type": node.attr_str("type")})

    async def on_presence(self, context: HandlerContext, node: Node) -> None:
        device = context.device
        if device is None:
            return
        kind = node.attr_str("type", "available")
        if kind == "subscribe":
            await self._subscribe(context, device, node)
            return
        if kind not in ("available", "unavailable"):
            strict.report(context.state, strict.UNMODELLED, "stanza-type", f"<presence type={kind}>", node=node,
                          connection=context.connection)
            return
        name = node.attr_str("name")
        if name:
            device.push_name = name
            device.account.push_name = name
        context.connection.available = kind != "unavailable"
        await self.announce(device.account)

    async def _subscribe(self, context: HandlerContext, device: Device, node: Node) -> None:
        to = node.try_attr_jid("to")
        account = self.state.account_for(to.to_non_ad()) if to is not None and to.is_user else None
        if to is None or account is None:
            logger.debug("emulator: presence subscription to unknown {} ignored", node.attrs.get("to"))
            return
        self.watchers.setdefault(account.phone_number, {})[device] = to.to_non_ad()
        self.state.emit("presence_subscribed", account=device.account, device=device, data={"to": to.to_non_ad()})
        await self._send(device, self.presence_node(to.to_non_ad(), account))

    async def announce(self, account: Account) -> None:
        """Relay the account's availability to its watchers when it changed since the last relay."""
        available = self.available(account)
        if self._last.get(account.phone_number) == available:
            return
        self._last[account.phone_number] = available
        for watcher, jid in list(self.watchers.get(account.phone_number, {}).items()):
            await self._send(watcher, self.presence_node(jid, account))

    async def on_close(self, context: HandlerContext) -> None:
        if context.device is not None:
            await self.announce(context.device.account)
