"""What a routing decision produces, and the one place that carries it out.

The routing modules (routing.py, usync.py, bundles.py, groups.py, receipts.py) are sans-I/O: given the
server state, the sending device and a stanza, they return an `Outcome` — stanzas for the sender and
`Delivery`s for other devices. `deliver()` is the only async piece: it sends to online devices and
queues the rest on `Device.offline_queue`, which `take_offline()` empties at the device's next login
(before `<ib><offline count=N/>`), marking each stanza `offline` as WhatsApp does (Baileys
`src/Socket/messages-recv.ts` reads `attrs.offline` on messages, receipts and notifications).
Messages are delivered at least once: one sent to a live connection stays the server's until the
device confirms it, and goes back to the queue when the connection closes first (unacked.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from loguru import logger

from whatsapp.binary.node import Node
from whatsapp.jid import JID
from whatsapp.testing.state import Account, Device
from whatsapp.testing.unacked import track

# A device's offline queue is bounded so a test that never logs a client back in cannot grow memory
# without limit; the oldest stanzas go first, as on a server with a retention window.
MAX_OFFLINE_QUEUE = 10_000


@dataclass(slots=True)
class Delivery:
    """One stanza for one device (a companion or the simulated primary phone)."""

    device: Device
    node: Node

    @property
    def jid(self) -> JID:
        return self.device.jid


@dataclass(slots=True)
class Outcome:
    """The result of routing one client stanza."""

    replies: list[Node] = field(default_factory=list)  # to the sending connection, in order
    deliveries: list[Delivery] = field(default_factory=list)

    def extend(self, other: Outcome) -> None:
        self.replies.extend(other.replies)
        self.deliveries.extend(other.deliveries)


def now() -> int:
    return int(time.time())


def device_address(device: Device, lid: bool) -> JID:
    """The device's JID in the addressing the conversation uses (LID or phone number)."""
    return device.lid_jid if lid else device.jid


def user_address(account: Account, lid: bool) -> JID:
    return account.lid_jid if lid else account.jid


async def deliver(deliveries: list[Delivery]) -> None:
    """Send each stanza to its device now, or queue it until the device logs in again.

    The primary phone (device 0) is simulated: it has no connection, and its stanzas go to the phone
    object (`Phone.receive`), never to a queue; an account made outside a server has no phone to take them.
    """
    for delivery in deliveries:
        device = delivery.device
        if device.removed:
            continue
        connection = device.connection
        if connection is not None and connection.is_open:
            await connection.send_node(delivery.node)
            track(device, connection, delivery.node)
            continue
        if device.is_primary:
            phone = device.account.attached_phone
            if phone is not None:
                await phone.receive(delivery.node)
            else:
                logger.trace("emulator: dropped {} for {}, which has no simulated phone", delivery.node.tag,
                             device.jid)
            continue
        queue = device.offline_queue
        if len(queue) >= MAX_OFFLINE_QUEUE:
            queue.popleft()
        queue.append(delivery.node)


def take_offline(device: Device) -> list[Node]:
    """Empty the device's offline queue, returning the stanzas marked `offline` in arrival order."""
    nodes: list[Node] = []
    while device.offline_queue:
        node = device.offline_queue.popleft()
        node.attrs["offline"] = "1"
        nodes.append(node)
    return nodes
