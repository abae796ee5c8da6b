"""Trust tokens on the emulated server: issuing them, handing them over, and enforcing them on 1:1 messages.

The client side is whatsmeow `tctoken.go`/`cstoken.go` and Baileys `src/Utils/tc-token-utils.ts`; what the
server does in between, as modelled here (sans-I/O: state and stanza in, deliveries or an error code out):

- Issuing: `<iq xmlns="privacy" type="set"><tokens><token jid t type="trusted_contact"/></tokens></iq>`
  from account A names a contact B (by phone number or LID). The server makes a token, keeps it as A's
  token for B and pushes it to B's companions (queued for those offline) as
  `<notification from=<A by PN> sender_lid=<A's LID> type="privacy_token" id t><tokens><token jid=<B>
  t type="trusted_contact">BYTES</token></tokens></notification>`.
- Validity: a token stays valid for 4 buckets of 7 days, counted from the bucket it was issued in.
- Enforcement (`ServerSettings.tctoken_enforcement`), for a 1:1 fan-out message from S to another account
  R (not a retry resend to one device, not a peer message, which carry no token): a `<tctoken>` must be a
  valid token R issued to S, a `<cstoken>` must be HMAC-SHA256(S's nctSalt, "<R's LID>@lid"); when R has
  issued S a valid token the message must carry it, and a reach-out-restricted S needs it in any case.
  Anything else is `<ack error="463">` and nothing is delivered.
The bucket arithmetic and the HMAC are written here from their definition, not taken from the client
modules, so a misreading on one side shows as a refusal.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from loguru import logger

from whatsapp.binary import Node
from whatsapp.jid import JID
from whatsapp.testing.delivery import Delivery
from whatsapp.testing.errors import IQError
from whatsapp.testing.records import Account, Device, IssuedToken
from whatsapp.testing.state import ServerState

TOKEN_REFUSED = 463
WEEK = 7 * 24 * 3600
VALID_BUCKETS = 4
# A token is honoured for the whole window however many the issuer made since: the server checks a token it
# minted by its time, so a contact that issues again (Baileys 7 does so after many of its sends) never makes
# the copy another device holds stale. Expired ones are dropped; the cap only bounds the emulator's memory.
KEEP_ISSUED = 1024
TOKEN_BYTES = 24


def valid_at(token: IssuedToken, now: int) -> bool:
    """Issued in this bucket or one of the three before it."""
    return now // WEEK - token.t // WEEK < VALID_BUCKETS


def expected_cstoken(sender: Account, recipient: Account) -> bytes:
    return hmac.new(sender.nct_salt, f"{recipient.lid}@lid".encode(), hashlib.sha256).digest()


def issue(state: ServerState, issuer: Account, iq: Node, now: int | None = None) -> list[Delivery]:
    """Record each `<token>` of a privacy IQ; the notifications for the recipients. IQError 400 on a bad one."""
    now = int(time.time()) if now is None else now
    tokens = iq.child("tokens")
    if tokens is None or not tokens.children:
        raise IQError(400, "bad-request: no <tokens>")
    deliveries: list[Delivery] = []
    for item in tokens.children:
        jid = item.try_attr_jid("jid")
        t = item.attr_int("t")
        if item.tag != "token" or item.attr_str("type") != "trusted_contact" or jid is None or t is None or t <= 0:
            raise IQError(400, f"bad-request: {item.tag} needs jid, t and type=trusted_contact")
        if abs(t - now) > WEEK:
            raise IQError(400, "bad-request: t is not the current time")
        recipient = state.account_for(jid.to_non_ad()) if jid.is_user else None
        if recipient is None:
            raise IQError(404, "item-not-found")
        if recipient is issuer:
            raise IQError(400, "bad-request: a token for oneself")
        token = IssuedToken(secrets.token_bytes(TOKEN_BYTES), t)
        issued = issuer.issued_tokens.setdefault(recipient.phone_number, [])
        issued[:] = [kept for kept in issued if valid_at(kept, now)]
        issued.append(token)
        del issued[:-KEEP_ISSUED]
        logger.debug("emulator: {} issued a trust token to {}", issuer.phone_number, recipient.phone_number)
        state.emit("token_issued", account=issuer, data={"to": recipient, "t": t})
        deliveries.extend(notifications(state, issuer, recipient, token))
    return deliveries


def notifications(state: ServerState, issuer: Account, recipient: Account, token: IssuedToken) -> list[Delivery]:
    """The `privacy_token` notification of `token` for each of the recipient's companions."""
    out: list[Delivery] = []
    for device in recipient.companions():
        node = Node("notification", {
            "from": issuer.jid, "sender_lid": issuer.lid_jid, "type": "privacy_token",
            "id": state.next_notification_id(), "t": str(token.t),
        }, [Node("tokens", {}, [
            Node("token", {"jid": recipient.jid, "t": str(token.t), "type": "trusted_contact"}, token.token),
        ])])
        out.append(Delivery(device, node))
    return out


def valid_issued(issuer: Account, recipient: Account, now: int) -> list[IssuedToken]:
    return [t for t in issuer.issued_tokens.get(recipient.phone_number, []) if valid_at(t, now)]


def _is_fanout(node: Node) -> bool:
    """A 1:1 send to an account's devices (a retry resend names one device with a direct `<enc>`)."""
    return node.child("participants") is not None and node.attr_str("category") != "peer"


def refusal(sender: Device, recipient: Account | None, node: Node, to: JID, now: int | None = None) -> str | None:
    """Why a 1:1 message must be refused with 463 (None: it may pass). Only called with enforcement on."""
    if recipient is None or recipient is sender.account or not to.is_user or not _is_fanout(node):
        return None
    now = int(time.time()) if now is None else now
    tctoken = node.child("tctoken")
    cstoken = node.child("cstoken")
    issued = valid_issued(recipient, sender.account, now)
    if tctoken is not None:
        presented = tctoken.content_bytes or b""
        if not any(hmac.compare_digest(presented, t.token) for t in issued):
            return "a <tctoken> the contact never issued, or an expired one"
        return None
    if issued:
        return "no <tctoken>, but the contact issued one"
    if cstoken is not None and not hmac.compare_digest(cstoken.content_bytes or b"",
                                                       expected_cstoken(sender.account, recipient)):
        return "a <cstoken> that does not derive from the sender's nctSalt"
    if sender.account.reachout_restricted:
        return "a restricted account writing to a contact without its token"
    return None
