"""Who is who: the on-WhatsApp check, PN↔LID lookups, about texts, profile pictures and the block list
(whatsmeow `user.go`, Baileys `src/Socket/chats.ts`; docs/protocol.md §Users).

- `<iq xmlns="usync" type="get">` with `<usync mode="query" context="interactive">`, protocols `<contact/>`
  and `<lid/>`, users `<user><contact>+PHONE</contact></user>`: `<contact type="in|out">` says whether the
  number is on WhatsApp, `<lid val>` its LID (kept as a mapping, as every source of pairs is);
- the same query with `<status/>` for users by JID: their about text;
- `<iq xmlns="w:profile:picture" type="get" target=USER><picture type="image|preview" query="url"/>`: the
  picture's URL (404: none set; 401: not allowed to see it);
- `<iq xmlns="blocklist" type="get"/>` → `<list><item jid/></list>`; `type="set"` with
  `<item jid action="block|unblock"/>` (the LID, and `pn_jid` when blocking) → the new list.
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.addressing import lid_user_for, pn_user_for, store_mapping
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.business import BusinessProfile, parse_profile, profile_query
from whatsapp.context import Context
from whatsapp.errors import DecodeError, IqError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET, SERVER_JID

NOT_FOUND, NOT_AUTHORIZED = 404, 401


@dataclass(frozen=True, slots=True)
class OnWhatsApp:
    """One number of an on-WhatsApp check: `exists`, and its JID and LID when it does."""

    query: str  # the number asked, digits only
    exists: bool
    jid: JID
    lid: JID | None = None


def _digits(phone: str) -> str:
    return "".join(c for c in phone.split("@", 1)[0] if c.isdigit())


def usync_query(sid: str, protocols: list[Node], users: list[Node], context: str = "interactive") -> Node:
    return Node("iq", {"xmlns": "usync", "type": "get", "to": SERVER_JID}, [
        Node("usync", {"sid": sid, "mode": "query", "context": context, "last": "true", "index": "0"}, [
            Node("query", {}, protocols), Node("list", {}, users)]),
    ])


def _users(answer: Node) -> list[Node]:
    usync = answer.child("usync")
    listed = usync.child("list") if usync is not None else None
    if listed is None:
        raise DecodeError("usync answer without <list>")
    return listed.children_by_tag("user")


class Users:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def on_whatsapp(self, phones: list[str]) -> list[OnWhatsApp]:
        """Which of these phone numbers (international, any punctuation) have a WhatsApp account."""
        asked = [_digits(p) for p in phones if _digits(p)]
        users = [Node("user", {}, [Node("contact", {}, f"+{number}".encode())]) for number in asked]
        answer = await self.ctx.query(usync_query(self.ctx.new_id(), [Node("contact"), Node("lid")], users))
        found: list[OnWhatsApp] = []
        pairs: list[tuple[str, str]] = []
        for user in _users(answer):
            jid = user.try_attr_jid("jid")
            contact = user.child("contact")
            if jid is None or contact is None:
                continue
            lid_node = user.child("lid")
            lid = lid_node.try_attr_jid("val") if lid_node is not None else None
            if lid is not None and lid.server == LID and jid.server == S_WHATSAPP_NET:
                pairs.append((jid.user, lid.user))
            found.append(OnWhatsApp(jid.user, contact.attr_str("type") == "in", jid, lid))
        if pairs:
            async with self.ctx.auth.transaction() as tx:
                for pn_user, lid_user in pairs:
                    store_mapping(tx, pn_user, lid_user)
        return found

    async def lid_for(self, pn: JID) -> JID | None:
        """The LID of a phone-number user: from the stored mappings, else asked of the server (and kept)."""
        known = await lid_user_for(self.ctx.auth, pn.user)
        if known is not None:
            return JID(known, LID)
        results = await self.on_whatsapp([pn.user])
        return next((r.lid for r in results if r.exists and r.lid is not None), None)

    async def pn_for(self, lid: JID) -> JID | None:
        """The phone number of a LID user, when a message, group or history sync revealed it (the server
        gives no lookup this way round)."""
        known = await pn_user_for(self.ctx.auth, lid.user)
        return JID(known, S_WHATSAPP_NET) if known is not None else None

    async def about(self, user: JID) -> str | None:
        """The user's about text; None when the server gives none (hidden by their privacy settings)."""
        query = usync_query(self.ctx.new_id(), [Node("status")], [Node("user", {"jid": user.to_non_ad()})])
        for item in _users(await self.ctx.query(query)):
            status = item.child("status")
            if status is not None and status.content_bytes is not None:
                return status.content_bytes.decode("utf-8", "replace")
        return None

    async def profile_picture_url(self, user: JID, *, preview: bool = False) -> str | None:
        """The URL of the user's (or a group's) profile picture; None when none is set."""
        attrs: dict[str, AttrValue] = {"type": "preview" if preview else "image", "query": "url"}
        node = Node("iq", {"xmlns": "w:profile:picture", "type": "get", "to": SERVER_JID,
                           "target": user.to_non_ad()}, [Node("picture", attrs)])
        try:
            answer = await self.ctx.query(node)
        except IqError as exc:
            if exc.code == NOT_FOUND:
                return None
            raise
        picture = answer.child("picture")
        return picture.attr_str("url") if picture is not None else None

    async def business_profile(self, user: JID) -> BusinessProfile | None:
        """The business profile of `user` (whatsapp/business.py); None when it is not a business account."""
        return parse_profile(await self.ctx.query(profile_query(user)))

    async def blocklist(self) -> list[JID]:
        answer = await self.ctx.query(Node("iq", {"xmlns": "blocklist", "type": "get", "to": SERVER_JID}))
        return self._parse_list(answer)

    async def set_blocked(self, user: JID, blocked: bool) -> list[JID]:
        """Block or unblock a user; the block list after the change. WhatsApp keeps it by LID."""
        user = user.to_non_ad()
        attrs: dict[str, AttrValue] = {"action": "block" if blocked else "unblock"}
        if user.server == S_WHATSAPP_NET:
            lid = await self.lid_for(user)
            attrs["jid"] = lid or user
            if blocked and lid is not None:
                attrs["pn_jid"] = user
        else:
            attrs["jid"] = user
            pn = await self.pn_for(user) if blocked else None
            if pn is not None:
                attrs["pn_jid"] = pn
        answer = await self.ctx.query(Node("iq", {"xmlns": "blocklist", "type": "set", "to": SERVER_JID},
                                           [Node("item", attrs)]))
        return self._parse_list(answer)

    @staticmethod
    def _parse_list(answer: Node) -> list[JID]:
        listed = answer.child("list")
        items = listed.children_by_tag("item") if listed is not None else []
        return [jid for jid in (item.try_attr_jid("jid") for item in items) if jid is not None]
