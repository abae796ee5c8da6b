"""Server notifications and `<ib>` info stanzas that are not about pairing or prekeys.

- `<ib>`: the offline backlog's preview and end marker (handed to login upkeep), new edge routing
  info (stored in the credentials, used by the next handshake), `downgrade_webclient` (the phone
  has no multi-device support: the connection ends for good);
- `<notification type="devices">`: a contact (or we) linked or removed a device, so its cached device
  list is stale; `type="w:gp2"`: a group changed, so its cached metadata is stale, and the change is
  raised as `GroupParticipantsChanged` / `GroupInfoChanged` (whatsapp/group_changes.py);
- `type="encrypt"` with `<identity/>`: a contact's identity key changed (whatsmeow `notification.go`
  handleEncryptNotification): its device list is stale, `IdentityChanged`;
- `type="account_sync"` with `<blocklist><item jid action/></blocklist>`: our block list changed on
  another device (whatsmeow handleBlocklist): `BlocklistChanged`;
- every other notification (and every one above with nothing modelled in it) is raised as `NodeReceived`.
Every notification is acknowledged after its handler returned (the router's `add_ack`, whatsapp/router.py):
what it carries is stored before the server forgets it.
Trust tokens (`privacy_token`) are routed by whatsapp/trust.py; history sync and app state get a Route each.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from whatsapp import events
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.group_changes import group_events
from whatsapp.jid import JID
from whatsapp.reconnect import DisconnectReason
from whatsapp.router import Route, StanzaRouter


class DeviceCache(Protocol):
    async def invalidate(self, user: JID) -> None: ...


class GroupCache(Protocol):
    async def changed(self, group: JID, found: Sequence[events.Event]) -> None: ...


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
        router.add(Route("notification", self.on_identity, type="encrypt", child="identity"))
        router.add(Route("notification", self.on_account_sync, type="account_sync", child="blocklist"))
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
        found = group_events(node)
        if group is not None:
            await self.groups.changed(group, found)  # stored before the ack: a lost rotation comes again
        for event in found:
            await self.ctx.emit(event)
        if not found:
            await self.ctx.emit(events.NodeReceived(node))

    async def on_identity(self, node: Node) -> None:
        """A contact's identity changed: its devices are new (the next send fetches them and their keys)."""
        jid = node.try_attr_jid("from")
        if jid is None or not jid.is_user:
            await self.ctx.emit(events.NodeReceived(node))
            return
        await self.devices.invalidate(jid.to_non_ad())
        await self.ctx.emit(events.IdentityChanged(jid.to_non_ad(), node.attr_int("t", 0) or 0, node))

    async def on_account_sync(self, node: Node) -> None:
        blocklist = node.child("blocklist")
        changes: list[tuple[JID, str]] = []
        for item in blocklist.children_by_tag("item") if blocklist is not None else []:
            jid, action = item.try_attr_jid("jid"), item.attr_str("action")
            if jid is not None and action in ("block", "unblock"):
                changes.append((jid, action))
        await self.ctx.emit(events.BlocklistChanged(tuple(changes), node) if changes else events.NodeReceived(node))

    async def on_other(self, node: Node) -> None:
        await self.ctx.emit(events.NodeReceived(node))
