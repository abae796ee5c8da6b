"""Business profiles: what a WhatsApp Business account publishes about itself (whatsmeow `user.go`
GetBusinessProfile, Baileys `src/Socket/chats.ts` getBusinessProfile; docs/protocol.md §Users).

    <iq xmlns="w:biz" type="get" to="s.whatsapp.net">
        <business_profile v="244"><profile jid=USER/></business_profile></iq>
    → <business_profile v="244"><profile jid>
          <description>…</description><address>…</address><email>…</email><website>…</website>…
          <categories><category id>name</category>…</categories>
          <business_hours timezone><business_hours_config day_of_week mode open_time close_time/>…</business_hours>
      </profile></business_profile>

An account that is not a business has no profile: the answer's `<business_profile>` is empty, which is
`None` here (Baileys returns undefined for it too).
"""

from __future__ import annotations

from dataclasses import dataclass

from whatsapp.binary import Node
from whatsapp.errors import DecodeError
from whatsapp.jid import JID, SERVER_JID

PROFILE_VERSION = "244"  # the `v` both peers send


@dataclass(frozen=True, slots=True)
class BusinessHours:
    day_of_week: str
    mode: str  # "specific_hours", "open_24h", "appointment_only"
    open_time: str | None = None  # minutes after midnight, as the server writes it
    close_time: str | None = None


@dataclass(frozen=True, slots=True)
class BusinessProfile:
    jid: JID
    description: str = ""
    category: str | None = None  # the first category's name, as Baileys gives it
    categories: tuple[str, ...] = ()
    email: str | None = None
    websites: tuple[str, ...] = ()
    address: str | None = None
    timezone: str | None = None
    hours: tuple[BusinessHours, ...] = ()


def profile_query(jid: JID) -> Node:
    return Node("iq", {"xmlns": "w:biz", "type": "get", "to": SERVER_JID}, [
        Node("business_profile", {"v": PROFILE_VERSION}, [Node("profile", {"jid": jid.to_non_ad()})])])


def _text(node: Node | None) -> str | None:
    if node is None or node.content_bytes is None:
        return None
    return node.content_bytes.decode("utf-8", "replace") or None


def parse_profile(answer: Node) -> BusinessProfile | None:
    """The profile an answer carries; None when the account has none (not a business)."""
    outer = answer.child("business_profile")
    if outer is None:
        raise DecodeError("business profile answer without <business_profile>")
    profile = outer.child("profile")
    if profile is None:
        return None
    jid = profile.try_attr_jid("jid")
    if jid is None:
        raise DecodeError("business profile without a jid")
    categories_node = profile.child("categories")
    categories = tuple(name for name in (_text(c) for c in (categories_node.children_by_tag("category")
                                                            if categories_node is not None else [])) if name)
    hours_node = profile.child("business_hours")
    hours = tuple(BusinessHours(c.attr_str("day_of_week") or "", c.attr_str("mode") or "",
                                c.attr_str("open_time"), c.attr_str("close_time"))
                  for c in (hours_node.children_by_tag("business_hours_config") if hours_node is not None else []))
    websites = tuple(site for site in (_text(w) for w in profile.children_by_tag("website")) if site)
    return BusinessProfile(jid, _text(profile.child("description")) or "", categories[0] if categories else None,
                           categories, _text(profile.child("email")), websites, _text(profile.child("address")),
                           hours_node.attr_str("timezone") if hours_node is not None else None, hours)
