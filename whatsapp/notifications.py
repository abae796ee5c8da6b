"""Server notifications and `<ib>` info stanzas that are not about pairing or prekeys.

- `<ib>`: the offline backlog's preview and end marker (handed to login upkeep), new edge routing
  info (stored in the credentials, used by the next handshake), `downgrade_webclient` (the phone
  has no multi-device support: the connection ends for good);
- `<notification type="devices">`: a contact (or we) linked or removed a device, so its cached device
  list is stale; `type="w:gp2"`: a group changed, so its cached metadata is stale;
- every other notification is raised as `NodeReceived` for applications.
Every notification is acknowledged after its handler returned (the router's `add_ack`, whatsapp/router.py):
what it carries is stored before the server forgets it.
Trust tokens (`privacy_token`) are routed by whatsapp/trust.py; history sync and app state get a Route each.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.jid import JID
from whatsapp.reconnect import DisconnectReason
from whatsapp.router import Route, StanzaRouter


class DeviceCache(Protocol):
    async def invalidate(self, user: JID) -> None: ...


class GroupCache(Protocol):
    def forget(self, group: JID) -> None: ...


class OfflineSink(Protocol):
    async def offline_marker(self, count: int) -> None: ...
    async def offline_preview(self, counts: dict[str, int]) -> None: ...


class Notifications:
    def __init__(self, ctx: Context, devices: DeviceCache, groups: GroupCache, offline: OfflineSink) -> None:
        self.ctx = ctx
        self.devices = devices
        self.groups = groups
        self.offline = offline

    def install(self, router: StanzaRouter) -> None:
        router.add_ack("notification", self.ctx.ack)
        router.add(Route("ib", self.on_ib))
        router.add(Route("notification", self.on_devices, type="devices"))
        router.add(Route("notification", self.on_group_change, type="w:gp2"))
        router.set_default("notification", self.on_other)

    async def on_ib(self, node: Node) -> None:
        for child in node.children:
            if child.tag == "offline":
                await self.offline.offline_marker(child.attr_int("count", 0) or 0)
            elif child.tag == "offline_preview":
                counts = {k: int(v) for k, v in child.attrs.items() if isinstance(v, str) and v.isdigit()}
                await self.offline.offline_preview(counts)
            elif child.tag == "edge_routing":
                await self._store_routing_info(child)
            elif child.tag == "downgrade_webclient":
                self.ctx.control.end(DisconnectReason.multidevice_mismatch())

    async def _store_routing_info(self, edge_routing: Node) -> None:
        routing = edge_routing.child("routing_info")
        value = routing.content_bytes if routing is not None else None
        auth = self.ctx.auth
        if value and value != auth.creds.routing_info:
            async with auth.transaction() as tx:
                tx.set_creds(dataclasses.replace(auth.creds, routing_info=value))

    async def on_devices(self, node: Node) -> None:
        """A contact (or we) linked or removed a device: its cached device list is stale."""
        for name in ("from", "lid"):
            jid = node.try_attr_jid(name)
            if jid is not None and jid.user:
                await self.devices.invalidate(jid)
        await self.ctx.emit(events.NodeReceived(node))

    async def on_group_change(self, node: Node) -> None:
        group = node.try_attr_jid("from")
        if group is not None:
            self.groups.forget(group)
        await self.ctx.emit(events.NodeReceived(node))

    async def on_other(self, node: Node) -> None:
        await self.ctx.emit(events.NodeReceived(node))
