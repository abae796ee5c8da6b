"""Account notices the emulated server pushes: a contact's identity changed, our block list changed.

- `identity_changed(state, account, to)`: `<notification from=USER type="encrypt" id t><identity/>
  </notification>` to the companions of each account in `to` (whatsmeow `notification.go`
  handleEncryptNotification), as WhatsApp tells an account's contacts after it re-registered.
- `blocklist_changed(state, account, changes)`: `<notification from=OWN_USER type="account_sync" id t>
  <blocklist action dhash><item jid action/>…</blocklist></notification>` to the account's companions,
  as when its phone blocked or unblocked someone (whatsmeow handleAccountSyncNotification / handleBlocklist).
Both go through delivery.py, so offline companions get them at their next login.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from whatsapp.binary import Node
from whatsapp.jid import JID
from whatsapp.testing.delivery import Delivery, deliver, now
from whatsapp.testing.state import Account, ServerState


async def identity_changed(state: ServerState, account: Account, to: Sequence[Account]) -> None:
    deliveries = [Delivery(device, Node("notification", {"from": account.jid, "type": "encrypt",
                                                          "id": state.next_notification_id(), "t": str(now())},
                                        [Node("identity", {})]))
                  for other in to for device in other.companions()]
    await deliver(deliveries)
    state.emit("identity_notified", account=account, data={"to": list(to)})


async def blocklist_changed(state: ServerState, account: Account, changes: Sequence[tuple[JID, str]]) -> None:
    items = [Node("item", {"jid": jid, "action": action}) for jid, action in changes]
    action = "block" if all(a == "block" for _, a in changes) else "modify"
    blocklist = Node("blocklist", {"action": action, "dhash": secrets.token_hex(8)}, items)
    await deliver([Delivery(device, Node("notification", {"from": account.jid, "type": "account_sync",
                                                          "id": state.next_notification_id(), "t": str(now())},
                                         [blocklist]))
                   for device in account.companions()])
    state.emit("blocklist_notified", account=account, data={"changes": list(changes)})
