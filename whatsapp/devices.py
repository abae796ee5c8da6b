"""Which devices a user has: the usync device lists, cached per user in the auth state.

The list of every recipient (and of our own account: our other devices get a copy) is read from
`KeyType.DEVICE_LIST` while fresh (whatsapp/usync.py: TTL) and fetched in one usync IQ otherwise;
a `<notification type="devices">` deletes the entry (whatsapp/notifications.py). A PN answer that
names the user's LID stores the mapping too (whatsapp/addressing.py).
"""

from __future__ import annotations

from whatsapp.addressing import store_mapping
from whatsapp.auth import KeyType
from whatsapp.context import Context
from whatsapp.jid import JID, S_WHATSAPP_NET
from whatsapp.usync import DeviceList, devices_query, parse_devices


class DeviceDirectory:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def devices(self, users: list[JID]) -> dict[JID, DeviceList]:
        """Device lists by user JID (as asked, non-AD); users the server does not know are left out."""
        auth = self.ctx.auth
        users = list(dict.fromkeys(u.to_non_ad() for u in users))
        keys = [str(u) for u in users]
        stored = await auth.get(KeyType.DEVICE_LIST, keys)
        lists: dict[JID, DeviceList] = {}
        missing: list[JID] = []
        for user, key in zip(users, keys, strict=True):
            cached = DeviceList.from_bytes(user, stored[key]) if key in stored else None
            if cached is not None and cached.fresh():
                lists[user] = cached
            else:
                missing.append(user)
        if missing:
            answer = await self.ctx.query(devices_query(self.ctx.new_id(), missing))
            fetched = parse_devices(answer)
            async with auth.transaction() as tx:
                for user, found in fetched.items():
                    tx.set(KeyType.DEVICE_LIST, str(user), found.to_bytes())
                    if found.lid is not None and user.server == S_WHATSAPP_NET:
                        store_mapping(tx, user.user, found.lid.user)
            lists.update(fetched)
        return lists

    async def invalidate(self, user: JID) -> None:
        """The user linked or removed a device: fetch the list again next time."""
        async with self.ctx.auth.transaction() as tx:
            tx.set(KeyType.DEVICE_LIST, str(user.to_non_ad()), None)
