"""The emulated media hosts (mmg.whatsapp.net): HTTPS on loopback, with the real paths and the real checks.

    server.media.hostnames            # ["127.0.0.1:40123", "127.0.0.1:40124"]: what `media_conn` lists
    server.media.client_options()     # MediaOptions for our client (trusts the emulator's TLS CA)
    server.media.tls.ca_path          # NODE_EXTRA_CA_CERTS for a Baileys process

What it does, as the clients expect it (whatsmeow `upload.go`/`download.go`/`mediaconn.go`, Baileys
`src/Utils/messages-media.ts`):
- `<iq xmlns="w:m" type="set"><media_conn/></iq>` -> `<media_conn auth ttl auth_ttl max_buckets><host
  hostname maxContentLengthBytes/>...`; each answer issues a fresh auth token valid for `auth_ttl` seconds.
- `POST /mms/<type>/<token>?auth=<auth>&token=<token>`: 401 for an unknown or expired auth token, 413 over
  `max_upload_bytes`, 400 when the body's SHA-256 is not the token (unpadded base64url, padding tolerated)
  or the type is unknown; else the blob is stored (on disk: memory stays flat for big files) and the
  answer is `{"url", "direct_path", "handle", "object_id"}`.
- `GET <direct path>` (any query): the body, 404 for an unknown path, 410 for an expired blob.

Test levers (faults of the media concern): `expire(path)` (as after WhatsApp's retention window; the
phone can still upload it again, whatsapp/testing/media_retry.py), `settings.blob_ttl`, `corrupt(path)`,
`corrupt_next_upload()`,
`fail(host_index, status, count)` (a host answering errors), `revoke_tokens()`; `store(body, type)` keeps what
the simulated phone uploads (history-sync blobs, whatsapp/testing/phone_history.py). Server events:
`media_conn`, `media_uploaded`, `media_downloaded`, `media_refused`.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web
from loguru import logger

from whatsapp.binary import Node
from whatsapp.media_http import DEFAULT_MAX_DOWNLOAD, MediaOptions
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.media_tls import MediaTLS
from whatsapp.testing.state import ServerState

MMS_TYPES = frozenset({"image", "video", "audio", "document", "ptt", "gif", "sticker", "md-msg-hist",
                       "md-app-state", "thumbnail-link", "ptv"})
CHUNK = 256 * 1024


@dataclass(slots=True)
class MediaSettings:
    """Read when each is needed: a test may change them on a running server."""

    ttl: int = 300  # seconds a media_conn host list is good for
    auth_ttl: int = 21600  # seconds an upload auth token is good for
    max_buckets: int = 12
    max_upload_bytes: int = 512 * 1024 * 1024
    blob_ttl: float | None = None  # seconds after upload a blob expires (None: never, unless expire())


@dataclass(eq=False)
class Blob:
    enc_sha256: bytes
    size: int
    media_type: str
    file: Path
    uploaded_at: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class _PathEntry:
    blob: Blob
    published_at: float = field(default_factory=time.monotonic)
    expired: bool = False


def decode_token(token: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        return None
    return raw if len(raw) == 32 else None


class MediaHost:
    def __init__(self, state: ServerState, settings: MediaSettings | None = None, *, host: str = "127.0.0.1",
                 host_count: int = 2) -> None:
        self.state = state
        self.settings = settings or MediaSettings()
        self.host = host
        self.host_count = host_count
        self.hostnames: list[str] = []
        self._dir: Path | None = None  # blobs and the TLS files, made at start, removed at stop
        self._tls: MediaTLS | None = None
        self._tokens: dict[str, float] = {}  # auth token -> monotonic expiry
        self._paths: dict[str, _PathEntry] = {}  # direct path without its query -> entry
        self._by_hash: dict[bytes, Blob] = {}
        self._faults: dict[int, list[int]] = {}  # host index -> statuses still to answer
        self._ports: dict[int, int] = {}  # local port -> host index
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._corrupt_next = False
        self.uploads = 0
        self.downloads = 0

    def __repr__(self) -> str:
        return f"MediaHost({self.hostnames or 'not started'}, {len(self._by_hash)} blobs)"

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def tls(self) -> MediaTLS:
        if self._tls is None:
            raise RuntimeError("the media host is not started")
        return self._tls

    async def start(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="wa-emulator-media-"))
        self._tls = MediaTLS.create(self._dir)
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/mms/{type}/{token}", self._upload)
        app.router.add_get("/{tail:.*}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        context = self.tls.server_context()
        for index in range(self.host_count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((self.host, 0))  # a port of our own per host, so a test can fail one host only
            port = sock.getsockname()[1]
            await web.SockSite(self._runner, sock, ssl_context=context).start()
            self._ports[port] = index
            self.hostnames.append(f"{self.host}:{port}")
        logger.info("emulator: media hosts on https://{}", ", https://".join(self.hostnames))

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.hostnames = []
        self._ports = {}
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None

    def client_options(self, max_download_bytes: int | None = DEFAULT_MAX_DOWNLOAD) -> MediaOptions:
        """MediaOptions for our client under test: the emulator's CA trusted."""
        return MediaOptions(max_download_bytes=max_download_bytes, ssl=self.tls.client_context())

    # -- test levers ----------------------------------------------------------------------------

    def expire(self, direct_path: str) -> None:
        """The blob at `direct_path` is gone from the host (410 from now on)."""
        self._entry(direct_path).expired = True

    def corrupt(self, direct_path: str, offset: int = 0) -> None:
        """Flip one byte of the stored blob (a damaged copy on the host)."""
        blob = self._entry(direct_path).blob
        with open(blob.file, "r+b") as file:
            file.seek(offset)
            byte = file.read(1)
            file.seek(offset)
            file.write(bytes([byte[0] ^ 0xFF]))

    def corrupt_next_upload(self) -> None:
        """The next blob stored is damaged (one byte flipped after its hash was checked)."""
        self._corrupt_next = True

    def fail(self, host_index: int, status: int = 503, count: int = 1) -> None:
        """The next `count` requests to host `host_index` are answered `status`."""
        self._faults.setdefault(host_index, []).extend([status] * count)

    def revoke_tokens(self) -> None:
        """Every auth token issued so far is refused from now on (401), as after its auth_ttl."""
        self._tokens.clear()

    def blob_for(self, direct_path: str) -> Blob | None:
        entry = self._paths.get(direct_path.split("?", 1)[0])
        return entry.blob if entry else None

    def republish(self, enc_sha256: bytes) -> str | None:
        """A new direct path for a blob the host once had (the phone's re-upload); None if never seen."""
        blob = self._by_hash.get(enc_sha256)
        return self._publish(blob) if blob is not None else None

    def store(self, body: bytes, media_type: str) -> str:
        """Keep an encrypted body uploaded from inside the server (the simulated phone's own uploads: it has
        no HTTP client); its direct path, as an upload's answer gives it."""
        assert self._dir is not None, "the media host is not started"
        digest = hashlib.sha256(body).digest()
        blob = self._by_hash.get(digest)
        if blob is None:
            path = self._dir / f"{next(self._ids)}.blob"
            path.write_bytes(body)
            blob = Blob(digest, len(body), media_type, path)
            self._by_hash[digest] = blob
        direct_path = self._publish(blob)
        self.uploads += 1
        self.state.emit("media_uploaded", data={"direct_path": direct_path, "media_type": media_type,
                                                "size": len(body), "host": "phone"})
        return direct_path

    def _entry(self, direct_path: str) -> _PathEntry:
        entry = self._paths.get(direct_path.split("?", 1)[0])
        if entry is None:
            raise KeyError(f"no media at {direct_path}")
        return entry

    # -- media_conn -----------------------------------------------------------------------------

    def install(self, handlers: Handlers) -> None:
        async def media_conn(context: HandlerContext, iq: Node) -> Node:
            device = context.logged_in()
            self.state.emit("media_conn", device=device, account=device.account)
            return self.media_conn_node()

        handlers.iq("w:m", "set", "media_conn")(media_conn)

    def media_conn_node(self) -> Node:
        settings = self.settings
        token = secrets.token_urlsafe(48)
        self._tokens[token] = time.monotonic() + settings.auth_ttl
        hosts = [Node("host", {"hostname": name, "maxContentLengthBytes": str(settings.max_upload_bytes)})
                 for name in self.hostnames]
        return Node("media_conn", {"auth": token, "ttl": str(settings.ttl), "auth_ttl": str(settings.auth_ttl),
                                   "max_buckets": str(settings.max_buckets)}, hosts)

    # -- HTTP -----------------------------------------------------------------------------------

    def _host_of(self, request: web.Request) -> int:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return self._ports.get(sockname[1], 0) if sockname else 0

    def _fault(self, request: web.Request) -> web.Response | None:
        pending = self._faults.get(self._host_of(request))
        if pending:
            status = pending.pop(0)
            self.state.emit("media_refused", data={"path": request.path, "status": status, "why": "fault"})
            return web.Response(status=status, text="injected fault\n")
        return None

    def _refuse(self, request: web.Request, status: int, why: str) -> web.Response:
        logger.info("emulator: media {} {} refused {}: {}", request.method, request.path, status, why)
        self.state.emit("media_refused", data={"path": request.path, "status": status, "why": why})
        return web.json_response({"error": why}, status=status)

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        fault = self._fault(request)
        if fault is not None:
            return fault
        media_type, token = request.match_info["type"], request.match_info["token"]
        expires = self._tokens.get(request.query.get("auth", ""))
        if expires is None or time.monotonic() > expires:
            return self._refuse(request, 401, "unknown or expired auth token")
        expected = decode_token(token)
        if expected is None or request.query.get("token", token) != token:
            return self._refuse(request, 400, "bad token")
        if media_type not in MMS_TYPES:
            return self._refuse(request, 400, f"unknown media type {media_type}")
        limit = self.settings.max_upload_bytes
        if request.content_length is not None and request.content_length > limit:
            return self._refuse(request, 413, f"{request.content_length} bytes is over {limit}")
        assert self._dir is not None
        path = self._dir / f"{next(self._ids)}.blob"
        digest = hashlib.sha256()
        size = 0
        with open(path, "wb") as file:
            async for chunk in request.content.iter_chunked(CHUNK):
                size += len(chunk)
                if size > limit:
                    file.close()
                    path.unlink(missing_ok=True)
                    return self._refuse(request, 413, f"body over {limit} bytes")
                digest.update(chunk)
                file.write(chunk)
        if digest.digest() != expected:
            path.unlink(missing_ok=True)
            return self._refuse(request, 400, "the body's SHA-256 is not the token")
        blob = self._by_hash.get(expected)
        if blob is None:
            blob = Blob(expected, size, media_type, path)
            self._by_hash[expected] = blob
        else:
            path.unlink(missing_ok=True)  # the same bytes again: one copy is enough
        direct_path = self._publish(blob)
        if self._corrupt_next:
            self._corrupt_next = False
            self.corrupt(direct_path, offset=size // 2)
        self.uploads += 1
        hostname = self.hostnames[self._host_of(request)]
        self.state.emit("media_uploaded", data={"direct_path": direct_path, "media_type": media_type, "size": size,
                                                "host": hostname})
        logger.info("emulator: media {} of {} bytes stored at {}", media_type, size, direct_path.split("?")[0])
        return web.json_response({"url": f"https://{hostname}{direct_path}&mms3=true", "direct_path": direct_path,
                                  "handle": secrets.token_urlsafe(24), "object_id": str(next(self._ids))})

    def _publish(self, blob: Blob) -> str:
        ids = "_".join(str(secrets.randbelow(10**15)) for _ in range(3))
        base = f"/v/t62.7118-24/{ids}_n.enc"
        self._paths[base] = _PathEntry(blob)
        expiry = int(time.time()) + 30 * 86400
        return f"{base}?ccb=11-4&oh=01_{secrets.token_hex(20)}&oe={expiry:08X}&_nc_sid=5e03e0"

    async def _download(self, request: web.Request) -> web.StreamResponse:
        fault = self._fault(request)
        if fault is not None:
            return fault
        entry = self._paths.get(request.path)
        if entry is None:
            return self._refuse(request, 404, "no such media")
        ttl = self.settings.blob_ttl
        if ttl is not None and time.monotonic() > entry.published_at + ttl:
            entry.expired = True
        if entry.expired:
            return self._refuse(request, 410, "media expired")
        self.downloads += 1
        self.state.emit("media_downloaded", data={"path": request.path, "size": entry.blob.size})
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = entry.blob.size
        await response.prepare(request)
        # Large writes: aiohttp's FileResponse falls back to small executor reads under TLS, which made the
        # emulator, not the client under test, the bottleneck of a benchmark sharing its process.
        with open(entry.blob.file, "rb") as file:
            while chunk := file.read(4 * CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
