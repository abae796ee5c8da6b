"""Peers for messaging tests and benchmarks: a Python client on the emulator that records what it raised and
sent, and helpers that pair it (or a Baileys harness) to a named test account.

    peer = await paired_python(server)            # the "py" account, paired by QR, prekeys uploaded
    baileys = await paired_baileys(server, make_baileys, tmp_path, "alice")
    await baileys.command("send_text", jid=pn("py"), text="hi")
    received = await peer.message(message_id)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from whatsapp import events
from whatsapp.auth import AuthState, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.client import Client
from whatsapp.keepalive import KeepaliveTiming
from whatsapp.messages import DecryptFailed, MessageReceived
from whatsapp.payload import DeviceConfig
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.baileys import BaileysHarness, HarnessFactory, pair_baileys_by_qr

PEOPLE = {
    "py": ("15550009999", "Py"),
    "alice": ("15550001111", "Alice"),
    "bob": ("15550002222", "Bob"),
    "carol": ("15550003333", "Carol"),
}
DELIVERY_ACK = 3  # proto.WebMessageInfo.Status.DELIVERY_ACK

E = TypeVar("E", bound=events.Event)


def pn(name: str) -> str:
    """The phone-number JID of one of PEOPLE."""
    return f"{PEOPLE[name][0]}@s.whatsapp.net"


class PyPeer:
    """A Python client plus the events it raised (messages, failures, stanzas) and the stanzas it sent."""

    def __init__(self, server: EmulatedServer, auth: AuthState | None = None,
                 device: DeviceConfig | None = None, keepalive: KeepaliveTiming | None = None) -> None:
        self.server = server
        self.auth = auth or MemoryAuthState()
        self.client = Client(self.auth, url=server.url, root_public_key=server.root_public_key, device=device,
                             media=server.media.client_options(),  # trusts the emulator's media hosts
                             keepalive=keepalive)
        self.events: list[events.Event] = []
        self._changed = asyncio.Condition()
        self.client.add_handler(events.Event, self._record)
        self.sent_nodes: list[Node] = []  # every stanza the client sent (messages, receipts, acks)
        # Every stanza leaves through the connection's send_node (the link each concern's context holds),
        # so wrapping that one method records them all. A private seam of the client, kept to this place.
        connection = self.client._connection
        original = connection.send_node

        async def recording(node: Node) -> None:
            self.sent_nodes.append(node)
            await original(node)

        connection.send_node = recording  # type: ignore[method-assign]  # record, then send as before

    def sent(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.sent_nodes if n.tag == tag and all(n.attr_str(k) == v for k, v in attrs.items())]

    def enc_types(self, message_id: str) -> list[str]:
        """The `<enc type>`s of the message stanza(s) we sent with this id."""
        types = []
        for node in self.sent("message", id=message_id):
            participants = node.child("participants")
            for holder in [node, *(participants.children if participants is not None else [])]:
                types += [enc.attr_str("type") or "" for enc in holder.children_by_tag("enc")]
        return types

    async def _record(self, event: events.Event) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    @property
    def messages(self) -> list[MessageReceived]:
        return self.of(MessageReceived)

    @property
    def failures(self) -> list[DecryptFailed]:
        return self.of(DecryptFailed)

    async def wait(self, kind: type[E], predicate: Callable[[E], bool] | None = None, timeout: float = 20.0) -> E:
        """The first event of `kind` (matching `predicate`) raised so far or from now on."""

        def find() -> E | None:
            for event in self.events:
                if isinstance(event, kind) and (predicate is None or predicate(event)):
                    return event
            return None

        async def waiter() -> E:
            async with self._changed:
                while (found := find()) is None:
                    await self._changed.wait()
                return found

        return await asyncio.wait_for(waiter(), timeout)

    async def wait_count(self, kind: type[events.Event], count: int, timeout: float = 20.0) -> None:
        async def waiter() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.of(kind)) >= count)

        await asyncio.wait_for(waiter(), timeout)

    async def message(self, message_id: str, timeout: float = 20.0) -> MessageReceived:
        return await self.wait(MessageReceived, lambda e: e.id == message_id, timeout)

    async def pair(self, phone: str, push_name: str = "Py") -> None:
        account = self.server.state.accounts.get(phone) or self.server.create_account(phone, push_name=push_name)
        await self.client.start()
        qr = await self.wait(events.QR)
        assert account.phone is not None, f"account {phone} has no primary phone to scan with"
        await account.phone.scan_qr(qr.code)
        await self.wait(events.Connected)
        await self.wait(events.PrekeysUploaded)  # usync lists a device once its keys are published

    async def start_again(self) -> None:
        """Log in again from the stored state (after `close()`)."""
        connected = len(self.of(events.Connected))
        await self.client.start()
        await self.wait_count(events.Connected, connected + 1)

    async def close(self) -> None:
        await self.client.close()


async def paired_baileys(
    server: EmulatedServer, make_baileys: HarnessFactory, tmp_path: Path, name: str, flavour: str = "baileys"
) -> BaileysHarness:
    """A Baileys harness paired by QR to the account of PEOPLE[name] (created if needed)."""
    phone, push_name = PEOPLE[name]
    if phone not in server.state.accounts:
        server.create_account(phone, push_name=push_name)
    harness = await make_baileys(server, tmp_path / name, flavour=flavour)
    await pair_baileys_by_qr(server, harness, phone)
    return harness


async def paired_python(server: EmulatedServer, auth: AuthState | None = None, name: str = "py",
                        keepalive: KeepaliveTiming | None = None) -> PyPeer:
    """A Python client paired by QR to the account of PEOPLE[name], its prekeys uploaded."""
    peer = PyPeer(server, auth, keepalive=keepalive)
    await peer.pair(*PEOPLE[name])
    return peer
