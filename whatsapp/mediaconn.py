"""The media hosts and their upload token: the `media_conn` IQ, cached and refreshed (whatsmeow `mediaconn.go`,
Baileys `src/Socket/messages-send.ts` refreshMediaConn; docs/protocol.md §Media transfer).

    <iq xmlns="w:m" type="set" to="s.whatsapp.net"><media_conn/></iq>
    -> <media_conn auth="…" ttl="300" auth_ttl="21600" max_buckets="12">
           <host hostname="mmg.whatsapp.net" maxContentLengthBytes="…"/> …
       </media_conn>

The answer is kept until `ttl` (or `auth_ttl`, when shorter: the token would be refused) runs out;
`get(force=True)` asks again at once, which the upload does when a host refuses the token.
`parse_media_conn` is pure; `MediaConnCache` asks through the handler context's `query`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from loguru import logger

from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.errors import ProtocolError
from whatsapp.jid import SERVER_JID


@dataclass(frozen=True, slots=True)
class MediaHost:
    hostname: str  # may carry a port ("127.0.0.1:8443" on the emulator)
    max_content_length: int | None = None


@dataclass(frozen=True, slots=True)
class MediaConn:
    auth: str
    ttl: int  # seconds the host list is good for
    auth_ttl: int | None  # seconds the auth token is good for
    max_buckets: int | None
    hosts: tuple[MediaHost, ...]
    fetched_at: float  # on the context's clock

    def __repr__(self) -> str:  # the auth token is a credential
        return f"MediaConn(hosts={[h.hostname for h in self.hosts]}, ttl={self.ttl}, auth_ttl={self.auth_ttl})"

    @property
    def expires_at(self) -> float:
        lifetime = min(self.ttl, self.auth_ttl) if self.auth_ttl else self.ttl
        return self.fetched_at + lifetime

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def media_conn_query(iq_id: str) -> Node:
    return Node("iq", {"id": iq_id, "xmlns": "w:m", "type": "set", "to": SERVER_JID}, [Node("media_conn", {})])


def _int(node: Node, name: str) -> int | None:
    raw = node.attr_str(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ProtocolError(f"media_conn {name}={raw!r} is not a number") from None


def parse_media_conn(reply: Node, now: float) -> MediaConn:
    """The `<media_conn>` of an IQ result; ProtocolError when it is missing, has no token or no host."""
    conn = reply.child("media_conn")
    if conn is None:
        raise ProtocolError("media_conn answer without <media_conn>")
    auth = conn.attr_str("auth")
    ttl = _int(conn, "ttl")
    if not auth or ttl is None:
        raise ProtocolError("media_conn answer without auth or ttl")
    hosts = []
    for child in conn.children:
        if child.tag != "host":
            logger.debug("media_conn: ignoring <{}>", child.tag)
            continue
        hostname = child.attr_str("hostname")
        if not hostname:
            raise ProtocolError("media_conn <host> without hostname")
        hosts.append(MediaHost(hostname, _int(child, "maxContentLengthBytes")))
    if not hosts:
        raise ProtocolError("media_conn answer lists no host")
    return MediaConn(auth, ttl, _int(conn, "auth_ttl"), _int(conn, "max_buckets"), tuple(hosts), now)


class MediaConnCache:
    """The current `MediaConn`, asked for when missing, expired or forced; one query at a time."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._current: MediaConn | None = None
        self._lock = asyncio.Lock()
        self.queries = 0

    async def get(self, *, force: bool = False) -> MediaConn:
        stale = self._current
        async with self._lock:
            current = self._current
            # Forced, but another task refreshed it while we waited for the lock: that answer is fresh.
            if current is not None and force and current is not stale:
                return current
            if current is None or force or current.expired(self.ctx.clock.now()):
                reply = await self.ctx.query(media_conn_query(self.ctx.new_id()))
                current = parse_media_conn(reply, self.ctx.clock.now())
                self._current = current
                self.queries += 1
                logger.debug("media hosts refreshed: {} (ttl {}s)", [h.hostname for h in current.hosts],
                             current.ttl)
            return current

    def invalidate(self) -> None:
        self._current = None
