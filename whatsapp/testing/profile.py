"""Profile queries: pictures (`xmlns="w:profile:picture"`) and the block list (`xmlns="blocklist"`), as the
server answers them (client side: whatsmeow `user.go` GetProfilePictureInfo, GetBlocklist, UpdateBlocklist;
Baileys `src/Socket/chats.ts` profilePictureUrl, fetchBlocklist, updateBlockStatus).

    <iq xmlns="w:profile:picture" type="get" target=USER><picture type="image|preview" query="url"/></iq>
        → <picture id type url direct_path/>; 404 item-not-found when the user set none
    <iq xmlns="blocklist" type="get"/>  → <list dhash><item jid/>…</list>
    <iq xmlns="blocklist" type="set"><item jid action="block|unblock" [pn_jid]/></iq>  → the new `<list>`,
        and `<notification type="account_sync"><blocklist>` to the account's other devices.
    <iq xmlns="w:biz" type="get"><business_profile v><profile jid/></business_profile></iq>
        → `<business_profile v><profile jid>` with the fields the account set (description, address, email,
        website, categories); for an account that is not a business (or none at all) an empty
        `<business_profile v/>`, as the server answers (Baileys then returns undefined).
"""

from __future__ import annotations

import hashlib

from whatsapp.binary import Node
from whatsapp.jid import JID
from whatsapp.testing.delivery import Delivery, deliver
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import Account

PICTURE_HOST = "https://pps.whatsapp.net"
BUSINESS_PLATFORMS = frozenset({"smba", "smbi"})  # WhatsApp Business on Android and iOS


def install(handlers: Handlers) -> None:
    handlers.iq("w:profile:picture", "get", "picture")(picture)
    handlers.iq("blocklist", "get")(blocklist)
    handlers.iq("blocklist", "set")(update_blocklist)
    handlers.iq("w:biz", "get", "business_profile")(business_profile)


async def picture(context: HandlerContext, node: Node) -> Node:
    context.logged_in()
    target = node.try_attr_jid("target")
    account = context.state.account_for(target.to_non_ad()) if target is not None and target.is_user else None
    if account is None or account.picture_id is None:
        raise IQError(404, "item-not-found")
    asked = node.child("picture")
    kind = asked.attr_str("type") if asked is not None else None
    path = f"/v/t61/{account.lid}-{account.picture_id}-{kind or 'image'}.jpg"
    return Node("picture", {"id": account.picture_id, "type": kind or "image", "url": PICTURE_HOST + path,
                            "direct_path": path})


def list_node(account: Account) -> Node:
    digest = hashlib.sha256(",".join(map(str, account.blocked)).encode()).hexdigest()[:16]
    return Node("list", {"dhash": digest}, [Node("item", {"jid": jid}) for jid in account.blocked])


async def blocklist(context: HandlerContext, node: Node) -> Node:
    return list_node(context.logged_in().account)


async def update_blocklist(context: HandlerContext, node: Node) -> Node:
    device = context.logged_in()
    account = device.account
    item = node.child("item")
    jid = item.try_attr_jid("jid") if item is not None else None
    action = item.attr_str("action") if item is not None else None
    target = context.state.account_for(jid.to_non_ad()) if jid is not None and jid.is_user else None
    if jid is None or action not in ("block", "unblock") or target is None:
        raise IQError(400, "bad-request")
    stored = JID(target.lid, "lid")  # WhatsApp keeps block lists by LID now
    if action == "block" and stored not in account.blocked:
        account.blocked.append(stored)
    elif action == "unblock" and stored in account.blocked:
        account.blocked.remove(stored)
    notice = Node("notification", {"from": account.jid, "type": "account_sync",
                                   "id": context.state.next_notification_id()},
                  [Node("blocklist", {"action": action}, [Node("item", {"jid": stored, "action": action})])])
    await deliver([Delivery(other, notice) for other in account.companions() if other is not device])
    return list_node(account)


def _business_fields(account: Account) -> list[Node]:
    fields = [Node("description", {}, account.business_description.encode())]
    for tag, value in (("address", account.business_address), ("email", account.business_email),
                       ("website", account.business_website)):
        if value:
            fields.append(Node(tag, {}, value.encode()))
    if account.business_category:
        fields.append(Node("categories", {}, [Node("category", {"id": "1"}, account.business_category.encode())]))
    return fields


async def business_profile(context: HandlerContext, node: Node) -> Node:
    context.logged_in()
    asked = node.child("business_profile")
    profile = asked.child("profile") if asked is not None else None
    jid = profile.try_attr_jid("jid") if profile is not None else None
    if asked is None or jid is None:
        raise IQError(400, "bad-request")
    version = asked.attrs.get("v", "244")
    account = context.state.account_for(jid.to_non_ad()) if jid.is_user else None
    if account is None or account.platform not in BUSINESS_PLATFORMS:
        return Node("business_profile", {"v": version})
    return Node("business_profile", {"v": version}, [Node("profile", {"jid": jid.to_non_ad()},
                                                          _business_fields(account))])
