"""Signed-prekey rotation: a new signed prekey every `every` days, the replaced ones kept for a grace period.

The new key is committed before it is uploaded (as one-time prekeys are, whatsapp/prekeys.py), in one unit of
work with the old key moved to `retired_signed_prekeys` and `signed_prekey_uploaded` False; the upload is
`<iq xmlns="encrypt" type="set"><rotate><skey>…</skey></rotate></iq>` (Baileys `rotateSignedPreKey`), and its
answer sets the flag. A crash anywhere in between leaves either the old key alone or the new key pending; a
pending key is uploaded again at the next login, never replaced by yet another one. Until the server hands
the new key out, peers fetch the old one, which decrypts from the retired list: a pkmsg names its signed
prekey id, and an old one stays usable for GRACE_DAYS (at least 30: a bundle fetched before a rotation may
be used weeks later). A server error on the rotate IQ falls back to the digest check (whatsapp/digest.py),
which uploads the whole bundle again when the server's copy is not ours, as Baileys does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable

from loguru import logger

from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.creds import Credentials, RetiredSignedPreKey, SignedPreKey
from whatsapp.errors import IqError
from whatsapp.jid import SERVER_JID
from whatsapp.key_nodes import signed_key_node

DAY = 86400
GRACE_DAYS = 30
MAX_KEY_ID = 0xFFFFFF  # signed prekey ids are 24-bit on the wire


def due_in(creds: Credentials, every_days: float, now: float) -> float:
    """Seconds until the next rotation (<= 0: due now). A key of unknown age is due."""
    return creds.signed_prekey_created + every_days * DAY - now


def rotated(creds: Credentials, now: float) -> Credentials:
    """The credentials after a rotation: a new signed key (next id), the current one retired, the expired
    retired ones dropped, the new one not yet confirmed by the server."""
    old = creds.signed_prekey
    new = SignedPreKey.generate(creds.identity_key, key_id=old.key_id % MAX_KEY_ID + 1)
    kept = tuple(r for r in creds.retired_signed_prekeys if now - r.retired_at < GRACE_DAYS * DAY)
    return dataclasses.replace(
        creds,
        signed_prekey=new,
        signed_prekey_created=int(now),
        signed_prekey_uploaded=False,
        retired_signed_prekeys=(*kept, RetiredSignedPreKey(old, int(now)))[-16:],
    )


def rotate_iq(key: SignedPreKey) -> Node:
    return Node("iq", {"xmlns": "encrypt", "type": "set", "to": SERVER_JID},
                [Node("rotate", {}, [signed_key_node(key.key_id, key.key_pair.public, key.signature)])])


class SignedPreKeyRotation:
    def __init__(self, ctx: Context, every_days: float, check_digest: Callable[[], Awaitable[None]],
                 wall: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.every_days = every_days
        self.check_digest = check_digest
        self.wall = wall

    @property
    def enabled(self) -> bool:
        return self.every_days > 0

    async def after_login(self) -> None:
        """Resume a pending upload, or rotate when due; then keep rotating on the clock while connected."""
        creds = self.ctx.auth.creds
        if not creds.signed_prekey_uploaded:
            logger.info("signed prekey {} was committed but not confirmed; uploading it again",
                        creds.signed_prekey.key_id)
            await self._upload()
        if not self.enabled:
            return
        if due_in(self.ctx.auth.creds, self.every_days, self.wall()) <= 0:
            await self.rotate()
        self.ctx.spawn(self._timer(), "signed prekey rotation timer")

    async def _timer(self) -> None:
        while True:
            wait = due_in(self.ctx.auth.creds, self.every_days, self.wall())
            await self.ctx.clock.sleep(min(max(wait, 60.0), DAY))  # re-checked daily: the wall clock may jump
            if due_in(self.ctx.auth.creds, self.every_days, self.wall()) <= 0:
                await self.rotate()

    async def rotate(self) -> None:
        ctx = self.ctx
        async with ctx.locks.creds:
            creds = rotated(ctx.auth.creds, self.wall())
            async with ctx.auth.transaction() as tx:
                tx.set_creds(creds)
        logger.info("signed prekey rotated to id {} (the previous one kept {} days)",
                    creds.signed_prekey.key_id, GRACE_DAYS)
        await self._upload()

    async def _upload(self) -> None:
        ctx = self.ctx
        key = ctx.auth.creds.signed_prekey
        try:
            await ctx.query(rotate_iq(key))
        except IqError as exc:
            logger.warning("signed prekey upload refused ({}); checking the server's key bundle", exc)
            await self.check_digest()
            return
        async with ctx.locks.creds:
            current = ctx.auth.creds
            if current.signed_prekey.key_id == key.key_id and not current.signed_prekey_uploaded:
                async with ctx.auth.transaction() as tx:
                    tx.set_creds(dataclasses.replace(current, signed_prekey_uploaded=True))
        logger.info("signed prekey {} uploaded", key.key_id)
