"""The cstoken: what a 1:1 message carries when we hold no trust token from the contact.

`HMAC-SHA256(nctSalt, "<recipient LID user>@lid")` (whatsmeow `cstoken.go`). The nctSalt is an account
secret the phone shares with its companions (history sync `HistorySync.nctSalt`, or the app-state
`nct_salt_sync` setting); those modules call `store_nct_salt` when it arrives. Without a salt, or without
the recipient's LID, there is no cstoken. The salt is kept in the credentials' `extra` (base64).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac

from whatsapp.auth import AuthState
from whatsapp.creds import Credentials
from whatsapp.jid import JID, LID

NCT_SALT_FIELD = "nct_salt"


def cstoken(salt: bytes, recipient_lid: JID) -> bytes:
    """The token for a recipient addressed by its LID (the device part is dropped)."""
    if recipient_lid.server != LID:
        raise ValueError(f"a cstoken is derived from a LID, not {recipient_lid}")
    return hmac.new(salt, str(recipient_lid.to_non_ad()).encode(), hashlib.sha256).digest()


def nct_salt(creds: Credentials) -> bytes | None:
    raw = creds.extra.get(NCT_SALT_FIELD)
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return base64.b64decode(raw, validate=True) or None
    except (binascii.Error, ValueError):
        return None


async def store_nct_salt(auth: AuthState, salt: bytes | None) -> None:
    """Keep the account's nctSalt (None or empty clears it, as whatsmeow clearNCTSalt)."""
    extra = dict(auth.creds.extra)
    if salt:
        extra[NCT_SALT_FIELD] = base64.b64encode(salt).decode()
    elif NCT_SALT_FIELD in extra:
        del extra[NCT_SALT_FIELD]
    else:
        return
    async with auth.transaction() as tx:
        tx.set_creds(dataclasses.replace(auth.creds, extra=extra))
