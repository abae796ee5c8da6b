"""Did a message reach every device it had to? The participant hash (`phash`) the server compares.

A sender encrypts for the device lists it has (usync, cached); when one is stale, a device misses the
message. The server knows the real lists, so it hashes them and, when the sender's view differs, says so
in the message's `<ack phash=…>` (whatsmeow `send.go`: SendMessage compares the ack's phash with its own
and drops the stale caches; it puts `phash` on group messages, `participantListHashV2`).

- Group: the sender's `phash` attribute against the hash of every listed device of every member, in the
  group's addressing. A sender that sends none (Baileys 7) is not checked: the server cannot know its view.
- 1:1: the devices the message addressed (`<to jid>`, plus the sending device) against every listed
  device of the recipient and of the sender's own account, in the chat's addressing.

The hash is written here from its definition, not taken from the client (whatsapp/send.py), so a
misreading on one side shows as a mismatch: "2:" then unpadded base64 of the first 6 bytes of the
SHA-256 over the sorted `user.agent:device@server` strings, concatenated.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from whatsapp.binary.node import Node
from whatsapp.testing.bundles import has_bundle
from whatsapp.testing.state import Account, Device, ServerState


def participant_hash(devices: Iterable[tuple[str, int, str]]) -> str:
    """phash over (user, device, server) triples (agent 0: the emulator has no agent devices)."""
    joined = "".join(sorted(f"{user}.0:{device}@{server}" for user, device, server in devices))
    return "2:" + base64.b64encode(hashlib.sha256(joined.encode()).digest()[:6]).decode().rstrip("=")


def _listed(account: Account) -> list[Device]:
    # What usync lists (usync.listed_devices): the phone and every companion that published its keys.
    return [d for d in account.linked_devices() if d.is_primary or has_bundle(d)]


def _triple(device: Device, lid: bool) -> tuple[str, int, str]:
    return (device.account.lid, device.device_id, "lid") if lid else (
        device.account.phone_number, device.device_id, "s.whatsapp.net")


def devices_hash(devices: Iterable[Device], lid: bool) -> str:
    return participant_hash(_triple(d, lid) for d in devices)


def group_phash_mismatch(state: ServerState, sender: Device, node: Node, members: list[Account],
                         lid: bool) -> str | None:
    """The server's phash when the group message's own `phash` differs from it, else None."""
    sent = node.attr_str("phash")
    if sent is None or node.attrs.get("participant") is not None or _is_resend(node):
        return None
    expected = devices_hash((d for account in members for d in _listed(account)), lid)
    return expected if sent != expected else None


def direct_phash_mismatch(state: ServerState, sender: Device, node: Node, chat_account: Account,
                          addressed: Iterable[Device], lid: bool) -> str | None:
    """The server's phash when the 1:1 message did not address exactly the devices it should have."""
    if node.attr_str("category") == "peer" or _is_resend(node):
        return None
    accounts = [chat_account] if chat_account is sender.account else [chat_account, sender.account]
    expected = {d for account in accounts for d in _listed(account)}
    covered = set(addressed) | {sender}
    if covered == expected:
        return None
    return devices_hash(expected, lid)


def _is_resend(node: Node) -> bool:
    # A retry resend names one device (`<enc count>`), on purpose not all of them.
    participants = node.child("participants")
    encs = list(node.children_by_tag("enc"))
    if participants is not None:
        for item in participants.children_by_tag("to"):
            encs.extend(item.children_by_tag("enc"))
    return any(enc.attrs.get("count") is not None for enc in encs) or (
        participants is None and any(enc.attr_str("type") != "skmsg" for enc in node.children_by_tag("enc")))
