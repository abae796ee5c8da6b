"""Trust tokens (tctokens), the pure part: bucket math, the stored record, the stanzas. No I/O.

A contact's client issues us a token when it writes to us; the server hands it over in
`<notification type="privacy_token">` (docs/protocol.md §Trust tokens). We attach it as `<tctoken>`
to our 1:1 messages to that contact while it is valid, and after each 1:1 send we issue ours once per
7-day bucket with `<iq xmlns="privacy" type="set"><tokens><token jid t type="trusted_contact"/>`
(whatsmeow `tctoken.go`, Baileys `src/Utils/tc-token-utils.ts`).

Validity is a rolling window of 4 buckets of 7 days (AB props `tctoken_duration`, `tctoken_num_buckets`):
a token issued before the first second of the oldest bucket is expired. The concern that uses all this
(notification route, send hooks, the 463 recovery) is whatsapp/trust.py.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field, replace

from whatsapp.binary import Node
from whatsapp.jid import JID, LID, S_WHATSAPP_NET, SERVER_JID

BUCKET_SECONDS = 604_800  # one bucket: 7 days
BUCKET_COUNT = 4  # the rolling window: ~28 days
TOKEN_TYPE = "trusted_contact"
# whatsmeow `types/jid.go` IsBot: Meta's bot accounts by number; they take no trust tokens.
_BOT_USER = re.compile(r"^1313555\d{4}$|^131655500\d{2}$")
_PSA_USER = "0"  # WhatsApp's service announcements account
# The storage import keeps Baileys' own JSON records behind this prefix (storage/baileys.py
# BAILEYS_JSON_PREFIX); the storage package sits above this one, so the 14 bytes are spelled out here.
_BAILEYS_JSON = b"\x00baileys-json\x00"


@dataclass(frozen=True, slots=True)
class TokenWindow:
    """The validity window; the AB props may change both numbers (whatsapp/abprops.py)."""

    bucket: int = BUCKET_SECONDS
    buckets: int = BUCKET_COUNT

    def cutoff(self, now: int) -> int:
        """The first second of the oldest bucket still valid."""
        return (now // self.bucket - (self.buckets - 1)) * self.bucket

    def expired(self, t: int | None, now: int) -> bool:
        return t is None or t <= 0 or t < self.cutoff(now)

    def issue_due(self, sender_t: int | None, now: int) -> bool:
        """Whether to issue our token again: never issued, or issued in an earlier bucket than now's."""
        return sender_t is None or now // self.bucket > sender_t // self.bucket


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What we keep per contact (KeyType.TC_TOKEN, keyed by `storage_key`).

    `token`/`t`: the contact's token for us and when it was issued; `sender_t`: when we last issued ours
    to the contact (kept even without a token, so we do not re-issue within a bucket). `indexed`: the
    record is listed for pruning (whatsapp/tokenprune.py); bookkeeping, not part of what the record says.
    """

    token: bytes | None = None
    t: int | None = None
    sender_t: int | None = None
    indexed: bool = field(default=False, compare=False)

    def usable(self, window: TokenWindow, now: int) -> bytes | None:
        return self.token if self.token and not window.expired(self.t, now) else None

    def prunable(self, window: TokenWindow, now: int) -> bool:
        """Nothing in it matters any more: the contact's token expired (or there is none) and ours would be
        issued again at the next send anyway (whatsmeow deletes the expired ones, `tctoken.go`)."""
        return window.expired(self.t, now) and window.issue_due(self.sender_t, now)

    def merged(self, token: bytes, t: int) -> TokenRecord | None:
        """This record with a newly received token, or None when the stored one is newer (Baileys' rule)."""
        if self.t is not None and self.t > t:
            return None
        return replace(self, token=token, t=t)

    def to_bytes(self) -> bytes:
        return json.dumps({
            "token": base64.b64encode(self.token).decode() if self.token else None,
            "t": self.t,
            "sender_t": self.sender_t,
            **({"i": True} if self.indexed else {}),
        }).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TokenRecord | None:
        """Our record, or one imported from Baileys (`{token: Buffer, timestamp, senderTimestamp}`); None if
        unreadable (it is treated as absent and overwritten by the next token)."""
        try:
            if data.startswith(_BAILEYS_JSON):
                raw = json.loads(data[len(_BAILEYS_JSON):])
                token_field = raw.get("token")
                token = base64.b64decode(token_field["data"]) if isinstance(token_field, dict) else None
                return cls(token or None, _int(raw.get("timestamp")), _int(raw.get("senderTimestamp")))
            raw = json.loads(data)
            token = base64.b64decode(raw["token"]) if raw.get("token") else None
            return cls(token, _int(raw.get("t")), _int(raw.get("sender_t")), raw.get("i") is True)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def _int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def takes_tokens(jid: JID) -> bool:
    """A regular user (PN or LID), not the service account or a bot (whatsmeow shouldSendTCTokenInChatAction)."""
    user = jid.to_non_ad()
    return user.server in (S_WHATSAPP_NET, LID) and user.user != _PSA_USER and not _BOT_USER.match(user.user)


def storage_key(jid: JID) -> str:
    """The TC_TOKEN id: the contact's user JID, `123@lid` once its LID is known (as both references key it)."""
    return str(jid.to_non_ad())


@dataclass(frozen=True, slots=True)
class ReceivedTokens:
    """A `privacy_token` notification read: who issued the tokens, and the (token, t) pairs."""

    sender: JID
    sender_lid: JID | None
    tokens: list[tuple[bytes, int]]
    problems: list[str]


def parse_privacy_notification(node: Node) -> ReceivedTokens | None:
    """`<notification from [sender_lid] type="privacy_token"><tokens><token t type>BYTES</token>…`.

    None when it names no sender or has no `<tokens>`; a bad `<token>` is skipped and named in `problems`.
    """
    sender = node.try_attr_jid("from")
    tokens_node = node.child("tokens")
    if sender is None or not sender.user or tokens_node is None:
        return None
    lid = node.try_attr_jid("sender_lid")
    found: list[tuple[bytes, int]] = []
    problems: list[str] = []
    for child in tokens_node.children:
        t = child.attr_int("t")
        token = child.content_bytes
        if child.tag != "token" or child.attr_str("type") != TOKEN_TYPE:
            problems.append(f"<{child.tag} type={child.attr_str('type')}>")
        elif not token or t is None or t <= 0:
            problems.append("a token without bytes or timestamp")
        else:
            found.append((token, t))
    return ReceivedTokens(sender.to_non_ad(), lid.to_non_ad() if lid is not None and lid.server == LID else None,
                          found, problems)


def issue_iq(jid: JID, t: int) -> Node:
    """Our token for `jid` (whatsmeow issuePrivacyToken)."""
    token = Node("token", {"jid": jid.to_non_ad(), "t": str(t), "type": TOKEN_TYPE})
    return Node("iq", {"xmlns": "privacy", "type": "set", "to": SERVER_JID}, [Node("tokens", {}, [token])])


def tctoken_node(token: bytes) -> Node:
    return Node("tctoken", {}, token)
