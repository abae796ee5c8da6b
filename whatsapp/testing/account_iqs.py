"""The account queries a client makes right after login: AB props and privacy settings (the blocklist is profile.py).

Baileys 7 asks all three on every open connection (`src/Socket/chats.ts`: fetchProps, fetchBlocklist,
fetchPrivacySettings); whatsmeow has the same queries (`appstate`-less `privacysettings.go`
TryFetchPrivacySettings, `blocklist.go` GetBlocklist). The answers here are those of an account nobody
configured: WhatsApp's default privacy settings and the AB props in
`ServerSettings.ab_props` (none by default, so clients keep their defaults).

    <iq xmlns="abt" type="get"><props protocol="1" [hash]/></iq>  →  <props hash><prop config_code config_value/>
    <iq xmlns="privacy" type="get"><privacy/></iq>               →  <privacy><category name value/>…</privacy>
"""

from __future__ import annotations

import hashlib

from whatsapp.binary import Node
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.settings import ServerSettings

# What a new account starts with (WhatsApp's defaults; whatsmeow `types/user.go` PrivacySettings names them).
DEFAULT_PRIVACY = {
    "readreceipts": "all",
    "last": "all",
    "online": "all",
    "profile": "all",
    "status": "contacts",
    "groupadd": "all",
    "calladd": "all",
    "messages": "all",
}


def install(handlers: Handlers, settings: ServerSettings) -> None:
    async def props(context: HandlerContext, node: Node) -> Node:
        context.logged_in()
        values = settings.ab_props
        digest = hashlib.sha256(repr(sorted(values.items())).encode()).hexdigest()[:16]
        return Node("props", {"protocol": "1", "hash": digest}, [
            Node("prop", {"config_code": code, "config_value": value}) for code, value in sorted(values.items())
        ])

    handlers.iq("abt", "get", "props")(props)
    handlers.iq("w", "get", "props")(props)  # the older namespace Baileys 6.7 asks (`<props protocol="2">`)
    handlers.iq("privacy", "get", "privacy")(privacy)


async def privacy(context: HandlerContext, node: Node) -> Node:
    context.logged_in()
    return Node("privacy", {}, [Node("category", {"name": name, "value": value})
                                for name, value in DEFAULT_PRIVACY.items()])
