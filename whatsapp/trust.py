"""Trust tokens as a concern: receive, attach, issue ours, recover from a 463 (docs/protocol.md §Trust tokens).

- `<notification type="privacy_token">` (acked by the router once stored): each token is stored under the
  issuer's LID (`sender_lid`, or the PN→LID mapping; the PN when no LID is known), unless a newer one is
  stored already; the PN↔LID pair the notification reveals is stored too.
- A 1:1 send (whatsapp/send.py) asks `stanza_nodes(chat)`: `<tctoken>` while the contact's token is valid
  and the server's props want it, else `<cstoken>` when the account's nctSalt is known
  (whatsapp/cstoken.py), else nothing.
- After a 1:1 send was accepted, `after_send(chat)` issues our token to the contact in the background
  when this 7-day bucket has none yet (whatsmeow `send.go` sendDM, `tctoken.go`).
- An `<ack error="463">` (missing or stale token) calls `recover(chat, sent)`: our token is issued again
  and the store read again (a notification may have arrived meanwhile); only a token different from the
  one refused is worth a second try, since a retry without one counts as another reach-out
  (Baileys `src/Socket/messages-recv.ts`).
- Expired records are deleted by a bounded pass (whatsapp/tokenprune.py) at login and, on a connection
  that stays up, in the background of a send, a day apart at most (whatsmeow prunes at the same points).
Every write of a token record goes through one lock: the notification, the issuer and the pruning pass
update the same records (and the index that lists them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

from loguru import logger

from whatsapp.abprops import ServerProps
from whatsapp.addressing import lid_user_for, pn_user_for, store_mapping
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.cstoken import cstoken, nct_salt
from whatsapp.errors import WhatsAppError
from whatsapp.jid import JID, LID, S_WHATSAPP_NET
from whatsapp.router import Route, StanzaRouter
from whatsapp.tctoken import (
    TokenRecord,
    issue_iq,
    parse_privacy_notification,
    storage_key,
    takes_tokens,
    tctoken_node,
)
from whatsapp.tokenprune import BUCKETS_PER_PASS, BUCKETS_PER_TRANSACTION, PRUNE_INTERVAL, TokenIndex

TOKEN_TAGS = ("tctoken", "cstoken")
TOKEN_REFUSED = 463  # the ack error of a 1:1 message without a valid trust token


class TrustTokens:
    def __init__(self, ctx: Context, props: ServerProps, wall: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.props = props
        self._wall = wall  # unix time: token timestamps are the server's wall clock, not a monotonic one
        self._lock = asyncio.Lock()
        self._issuing: set[str] = set()
        self.index = TokenIndex(lambda: props.token_window)
        self._last_prune: float | None = None  # the context's (monotonic) clock
        self._pruning = False

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("notification", self.on_privacy_token, type="privacy_token"))

    def _now(self) -> int:
        return int(self._wall())

    # ---- receiving --------------------------------------------------------------------------------------

    async def on_privacy_token(self, node: Node) -> None:
        if not self.ctx.auth.creds.paired:
            return
        received = parse_privacy_notification(node)
        if received is None:
            logger.warning("privacy_token notification {} names no sender or has no <tokens>; ignored",
                           node.attr_str("id"))
            return
        if received.problems:
            logger.warning("privacy_token notification from {}: skipped {}", received.sender,
                           ", ".join(received.problems))
        if received.sender_lid is not None and received.sender.server == S_WHATSAPP_NET:
            async with self.ctx.auth.transaction() as tx:
                store_mapping(tx, received.sender.user, received.sender_lid.user)
        key = received.sender_lid or await self.storage_jid(received.sender)
        async with self._lock:
            record = await self._load(key) or TokenRecord()
            stored = 0
            for token, t in received.tokens:
                merged = record.merged(token, t)
                if merged is not None:
                    record, stored = merged, stored + 1
            if stored:
                async with self.ctx.auth.transaction() as tx:
                    await self.index.save(tx, storage_key(key), record, self._now())
        logger.debug("trust token from {} stored ({} new)", key, stored)

    async def store_tokens(self, tokens: list[tuple[JID, bytes, int, int | None]]) -> int:
        """Tokens learned elsewhere (history sync: whatsapp/history.py), as (contact, token, t, sender_t):
        stored under the contact's LID when known, unless a newer one is stored, in one transaction; how
        many were stored. The notification's lock and merge rule, so neither overwrites a newer token."""
        stored = 0
        async with self._lock, self.ctx.auth.transaction() as tx:
            for contact, token, t, sender_t in tokens:
                name = storage_key(await self.storage_jid(contact))
                raw = (await tx.get(KeyType.TC_TOKEN, [name])).get(name)
                record = (TokenRecord.from_bytes(raw) if raw is not None else None) or TokenRecord()
                merged = record.merged(token, t)
                if merged is None:
                    continue
                if sender_t and (merged.sender_t or 0) < sender_t:  # when we last issued ours, per the phone
                    merged = replace(merged, sender_t=sender_t)
                await self.index.save(tx, name, merged, self._now())  # listed for pruning (tokenprune.py)
                stored += 1
        return stored

    # ---- sending ----------------------------------------------------------------------------------------

    async def storage_jid(self, jid: JID) -> JID:
        """The contact's LID user JID when the mapping is known, else its PN user JID."""
        user = jid.to_non_ad()
        if user.server != S_WHATSAPP_NET:
            return user
        lid = await lid_user_for(self.ctx.auth, user.user)
        return JID(lid, LID) if lid else user

    async def _load(self, key: JID) -> TokenRecord | None:
        raw = (await self.ctx.auth.get(KeyType.TC_TOKEN, [storage_key(key)])).get(storage_key(key))
        return TokenRecord.from_bytes(raw) if raw is not None else None

    async def stanza_nodes(self, chat: JID) -> list[Node]:
        """The token child of a 1:1 message to `chat`: `<tctoken>`, `<cstoken>` or none."""
        if not takes_tokens(chat):
            return []
        if self._prune_due():
            self.ctx.spawn(self.prune_expired(), "trust token pruning")
        key = await self.storage_jid(chat)
        record = await self._load(key)
        if record is None and key != chat.to_non_ad():
            record = await self._load(chat.to_non_ad())  # stored by phone number before the LID was known
        token = record.usable(self.props.token_window, self._now()) if record is not None else None
        if token is not None and self.props.tctoken_on_1to1:
            return [tctoken_node(token)]
        salt = nct_salt(self.ctx.auth.creds)
        if salt is not None and key.server == LID:
            return [Node("cstoken", {}, cstoken(salt, key))]
        return []

    def after_send(self, chat: JID) -> None:
        """A 1:1 message to `chat` was accepted: issue our token in the background when it is due."""
        if takes_tokens(chat):
            self.ctx.spawn(self.issue(chat), "trust token issue")

    async def issue(self, chat: JID, *, force: bool = False) -> None:
        """Issue our token to `chat` when this bucket has none yet (always with `force`); failures are logged."""
        key = await self.storage_jid(chat)
        name = storage_key(key)
        stored = await self._load(key)
        record = stored or TokenRecord()
        now = self._now()
        if name in self._issuing or not (force or self.props.token_window.issue_due(record.sender_t, now)):
            if stored is not None and not stored.indexed:
                await self._list_unindexed(name)
            return
        self._issuing.add(name)
        try:
            target = key
            if key.server == LID and not self.props.issue_token_to_lid:
                pn = await pn_user_for(self.ctx.auth, key.user)
                target = JID(pn, S_WHATSAPP_NET) if pn else key
            await self.ctx.query(issue_iq(target, now))
            async with self._lock:
                current = await self._load(key) or TokenRecord()
                async with self.ctx.auth.transaction() as tx:
                    await self.index.save(tx, name, replace(current, sender_t=now), now)
            logger.debug("trust token issued to {}", target)
        except WhatsAppError as exc:
            logger.warning("could not issue our trust token to {}: {}", key, exc)
        finally:
            self._issuing.discard(name)

    async def _list_unindexed(self, name: str) -> None:
        """A record written before records were indexed (or imported from Baileys): list it, so it can expire."""
        async with self._lock, self.ctx.auth.transaction() as tx:
            raw = (await tx.get(KeyType.TC_TOKEN, [name])).get(name)
            record = TokenRecord.from_bytes(raw) if raw is not None else None
            if record is not None and not record.indexed:
                await self.index.save(tx, name, record, self._now())

    # ---- pruning ----------------------------------------------------------------------------------------

    def _prune_due(self) -> bool:
        last = self._last_prune
        return not self._pruning and (last is None or self.ctx.clock.now() - last >= PRUNE_INTERVAL)

    async def prune_expired(self) -> None:
        """Delete the expired token records, a bounded pass a day apart at most; failures are logged."""
        if not self._prune_due():
            return
        self._pruning, self._last_prune = True, self.ctx.clock.now()
        deleted = 0
        try:
            for _ in range(BUCKETS_PER_PASS // BUCKETS_PER_TRANSACTION):
                async with self._lock, self.ctx.auth.transaction() as tx:  # short: a few buckets
                    gone, more = await self.index.prune(tx, self._now())
                deleted += len(gone)
                if not more:
                    break
                await asyncio.sleep(0)  # sends and notifications get the lock between two transactions
        except WhatsAppError as exc:
            logger.warning("could not remove expired trust tokens: {}", exc)
        finally:
            self._pruning = False
        if deleted:
            logger.debug("removed {} expired trust-token records", deleted)

    async def recover(self, chat: JID, sent: list[Node]) -> list[Node] | None:
        """After a 463: the token children worth one more try, or None when nothing better can be had."""
        await self.issue(chat, force=True)
        fresh = await self.stanza_nodes(chat)
        before = [n.content_bytes for n in sent]
        if fresh and [n.content_bytes for n in fresh] != before:
            return fresh
        return None

    async def retry_refused(self, chat: JID, node: Node) -> Node | None:
        """After a 463: the ack of one more try with a fresh token, or None when none could be had."""
        fresh = await self.recover(chat, [c for c in node.children if c.tag in TOKEN_TAGS])
        if fresh is None:
            return None
        logger.debug("message {} to {}: trying again with a fresh trust token", node.attr_str("id"), chat)
        return await self.ctx.query(with_token_nodes(node, fresh))


def with_token_nodes(node: Node, tokens: list[Node]) -> Node:
    """`node` with its token children replaced by `tokens` (the rest, the ciphertexts included, unchanged)."""
    children = [c for c in node.children if c.tag not in TOKEN_TAGS]
    return Node(node.tag, dict(node.attrs), [*children, *tokens])
