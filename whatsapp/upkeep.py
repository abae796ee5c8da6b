"""Login upkeep: what a logged-in connection does for itself after `<success>`.

- our LID, when the server names one we did not know, stored with its PN mapping;
- the connection marked open (keepalive starts, backoff resets: whatsapp/connection.py);
- prekeys: the server's count checked and the pool refilled (whatsapp/prekeys.py decides how many),
  again whenever `<notification type="encrypt"><count/>` says it runs low;
- passive → active (`<iq xmlns="passive"><active/>`), signed-prekey rotation (whatsapp/spk_rotation.py), the
  prekey digest check (whatsapp/digest.py, a
  re-upload when the server's bundle is not ours), the other after-login steps the client gives (server
  props, whatsapp/abprops.py), then unified_session and our presence (whatsapp/presence.py);
- the offline backlog (whatsapp/offline.py): the preview answered with a batch request, the end
  marker reported, a watchdog on the context's clock for a marker that never comes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from loguru import logger

from whatsapp import events
from whatsapp.addressing import store_mapping
from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.digest import digest_iq, digest_problem
from whatsapp.errors import DecodeError, IqError, IqTimeout, WhatsAppError
from whatsapp.jid import JID, SERVER_JID
from whatsapp.offline import OfflineBacklog
from whatsapp.prekeys import (
    TARGET_PREKEY_COUNT,
    PrekeyPlan,
    count_iq,
    mark_uploaded,
    parse_count,
    plan_upload,
    prepare_upload,
    upload_iq,
)
from whatsapp.presence import Presence
from whatsapp.router import Route, StanzaRouter
from whatsapp.spk_rotation import SignedPreKeyRotation

OFFLINE_BATCH = 100  # stanzas per batch the server may push after the preview (WA Web asks for 100)


@dataclass(frozen=True, slots=True)
class UpkeepConfig:
    offline_timeout: float = 60.0  # how long to wait for the end-of-backlog marker
    signed_prekey_rotation_days: float = 0.0  # 0: never rotate (a pending rotation is still finished)


Step = tuple[str, Callable[[], Awaitable[None]]]  # an after-login step: its name (for the log) and what it does


class LoginUpkeep:
    def __init__(self, ctx: Context, config: UpkeepConfig, presence: Presence | None = None,
                 steps: Sequence[Step] = ()) -> None:
        self.ctx = ctx
        self.config = config
        self.presence = presence
        self.steps = list(steps)
        self.backlog = OfflineBacklog()
        self._prekey_lock = asyncio.Lock()  # one check/upload at a time: ids and counts stay consistent
        self.rotation = SignedPreKeyRotation(ctx, config.signed_prekey_rotation_days, self.check_digest)

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("success", self.on_success))
        router.add(Route("notification", self.on_prekey_count, type="encrypt", child="count"))

    async def on_success(self, node: Node) -> None:
        ctx = self.ctx
        if not ctx.auth.creds.paired:
            logger.warning("ignored <success> on a connection that is not paired")
            return
        lid = node.attr_str("lid")
        if lid and lid != ctx.auth.creds.me_lid:
            await self._record_lid(lid)
        await ctx.control.logged_in()
        if self.presence is not None:
            self.presence.on_login(node)
        logger.info("connection open as {}", ctx.auth.creds.me_id)
        self.backlog.start()
        ctx.spawn(self._after_login(), "post-login setup")
        ctx.spawn(self._offline_watchdog(), "offline backlog watchdog")
        await ctx.emit(events.Connected(ctx.auth.creds.me_id, ctx.auth.creds.me_lid))

    async def _record_lid(self, lid: str) -> None:
        creds = self.ctx.auth.creds
        try:
            lid_jid = JID.parse(lid)
            me = JID.parse(creds.me_id or "")
        except DecodeError:
            logger.warning("server sent an unreadable lid {!r}", lid)
            return
        async with self.ctx.auth.transaction() as tx:
            tx.set_creds(dataclasses.replace(creds, me_lid=lid))
            store_mapping(tx, me.user, lid_jid.user)
        logger.debug("own LID recorded")

    async def _after_login(self) -> None:
        try:
            await self.ensure_prekeys(None)
        except WhatsAppError as exc:
            logger.warning("prekey check failed: {}", exc)
        await self.ctx.query(Node("iq", {"to": SERVER_JID, "xmlns": "passive", "type": "set"}, [Node("active")]))
        # The rotation first: a pending one is finished before the digest compares the server's key with ours.
        steps: list[Step] = [("signed prekey rotation", self.rotation.after_login),
                             ("prekey digest check", self.check_digest), *self.steps]
        if self.presence is not None:
            steps.append(("presence", self.presence.announce))
        for name, step in steps:
            try:
                await step()
            except (IqError, IqTimeout, DecodeError) as exc:  # one failed step must not skip the others
                logger.warning("{} after login failed: {}", name, exc)

    # ---- prekeys --------------------------------------------------------------------------------------------

    async def check_digest(self) -> None:
        """Upload our keys again when the server's digest of them is not what we hold (whatsapp/digest.py)."""
        try:
            problem = await digest_problem(await self.ctx.query(digest_iq()), self.ctx.auth)
        except IqError as exc:
            if exc.code != 404:
                raise
            problem = "the server has no key bundle for this device"
        if problem is None:
            return
        logger.warning("prekey digest mismatch ({}); uploading our keys again", problem)
        await self.ensure_prekeys(None, fresh=TARGET_PREKEY_COUNT)

    async def on_prekey_count(self, node: Node) -> None:
        count = parse_count(node)
        logger.info("server reports {} prekeys left", count)
        self.ctx.spawn(self.ensure_prekeys(count), "prekey refill")

    async def ensure_prekeys(self, server_count: int | None, fresh: int = 0) -> None:
        """Refill the server's pool as `plan_upload` says; `fresh` > 0 uploads that many new keys regardless."""
        ctx = self.ctx
        async with self._prekey_lock:
            if server_count is None:
                server_count = parse_count(await ctx.query(count_iq(ctx.new_id())))
            plan = PrekeyPlan([], fresh) if fresh else plan_upload(ctx.auth.creds, server_count)
            if not plan.generate and not plan.reuse_ids:
                logger.debug("server has {} prekeys; enough", server_count)
                return
            async with ctx.locks.creds:
                upload = await prepare_upload(ctx.auth, plan)
            await ctx.query(upload_iq(ctx.new_id(), ctx.auth.creds, upload.keys))
            async with ctx.locks.creds:
                await mark_uploaded(ctx.auth, upload)
            first = upload.keys[0][0] if upload.keys else 0
            logger.info("uploaded {} prekeys (server had {})", len(upload.keys), server_count)
            await ctx.emit(events.PrekeysUploaded(len(upload.keys), first))

    # ---- the offline backlog (the `<ib>` children reach these through whatsapp/notifications.py) ------------

    async def offline_marker(self, count: int) -> None:
        logger.info("offline backlog delivered ({} stanzas)", count)
        await self.ctx.emit(self.backlog.on_marker(count))

    async def offline_preview(self, counts: dict[str, int]) -> None:
        await self.ctx.emit(events.OfflineSyncPreview(counts))
        await self.ctx.send(Node("ib", {}, [Node("offline_batch", {"count": str(OFFLINE_BATCH)})]))

    async def _offline_watchdog(self) -> None:
        """The end-of-backlog marker can go missing (Baileys #2810): don't let the app wait forever."""
        await self.ctx.clock.sleep(self.config.offline_timeout)
        event = self.backlog.expire()
        if event is not None:
            logger.warning(
                "no end-of-backlog marker within {:.0f}s; treating the backlog as done", self.config.offline_timeout
            )
            await self.ctx.emit(event)
