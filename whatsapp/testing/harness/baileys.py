"""A real Baileys client in a Node process (tests/node/baileys_harness.mjs), driven over JSON lines.

The harness prints one JSON event per line (`{"event": "qr", ...}`, `{"event": "connection", ...}`, results of
commands) and reads commands on stdin (`{"cmd": "send_text", "req": 1, ...}`); the .mjs header lists both.

    harness = await BaileysHarness(server.url, server.root_public_key, auth_dir).start()
    device = await pair_baileys_by_qr(server, harness, "15550001111")
    await harness.command("send_text", jid=..., text="hi")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whatsapp.testing.harness.nodejs import NODE_DIR, node_executable

if TYPE_CHECKING:
    from whatsapp.testing import EmulatedServer
    from whatsapp.testing.state import Device

HARNESS = NODE_DIR / "baileys_harness.mjs"
FLAVOURS = ("baileys", "@whiskeysockets/baileys")  # 7.0.0-rc14 and 6.7.24
# Baileys 6.7 (`lib/Socket/socket.js` validateConnection) sends clientFinish and then switches to its transport
# keys in an async step it does not await; a server frame that arrives before that step ends is read as a
# handshake frame and every later one fails to decrypt. WhatsApp is at least one network hop away, so its
# first frame never wins that race; over loopback it can. The emulator answers at once by default
# (ServerSettings.first_frame_delay = 0), so a server that will serve Baileys 6.7 simulates the hop.
# Baileys 7 awaits the step (`await noise.finishInit()`) and needs nothing.
BAILEYS6_NETWORK_DELAY = 0.05


def network_delay(server: EmulatedServer, flavour: str) -> None:
    """Give `server` the network latency a Baileys `flavour` needs (see BAILEYS6_NETWORK_DELAY)."""
    if flavour == FLAVOURS[1]:
        server.settings.first_frame_delay = max(server.settings.first_frame_delay, BAILEYS6_NETWORK_DELAY)

# One event as the harness printed it: a JSON object whose keys depend on its "event" (hence Any).
HarnessEvent = dict[str, Any]
EventPredicate = Callable[[HarnessEvent], bool]


class HarnessError(AssertionError):
    pass


class BaileysHarness:
    """One Node process running one Baileys client; events arrive as dicts (see the .mjs header)."""

    def __init__(
        self,
        url: str,
        root_public_key: bytes,
        auth_dir: Path | str,
        *,
        flavour: str = "baileys",
        pair_phone: str | None = None,
        reconnect: bool = True,
        qr_timeout_ms: int | None = None,
        keepalive_ms: int | None = None,
        log_level: str | None = None,
        media_ca: Path | str | None = None,
        media_host: str | None = None,
    ) -> None:
        """`media_ca`: the emulator's media CA (`server.media.tls.ca_path`), trusted through NODE_EXTRA_CA_CERTS;
        `media_host`: where Baileys 6's downloads from mmg.whatsapp.net go (`server.media.hostnames[0]`)."""
        self.env = {
            **os.environ,
            "WA_URL": url,
            "WA_ROOT_KEY": root_public_key.hex(),
            "AUTH_DIR": str(auth_dir),
            "FLAVOUR": flavour,
            "RECONNECT": "1" if reconnect else "0",
        }
        if pair_phone:
            self.env["PAIR_PHONE"] = pair_phone
        if qr_timeout_ms:
            self.env["QR_TIMEOUT_MS"] = str(qr_timeout_ms)
        if keepalive_ms:
            self.env["KEEPALIVE_MS"] = str(keepalive_ms)
        if log_level:
            self.env["BAILEYS_LOG"] = log_level
        if media_ca:
            self.env["NODE_EXTRA_CA_CERTS"] = str(media_ca)
        if media_host:
            self.env["MEDIA_HOST"] = media_host
        self.auth_dir = Path(auth_dir)
        self.flavour = flavour
        self.events: list[HarnessEvent] = []
        self._consumed: set[int] = set()
        self._changed = asyncio.Condition()
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self.stderr_lines: list[str] = []
        self._req_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"BaileysHarness({self.flavour}, {self.auth_dir})"

    async def start(self) -> BaileysHarness:
        self._proc = await asyncio.create_subprocess_exec(
            node_executable(), str(HARNESS), cwd=NODE_DIR, env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_task = asyncio.create_task(self._read_stderr())
        await self.wait_for("ready", timeout=30)
        return self

    async def _read_stdout(self) -> None:
        assert self._proc and self._proc.stdout
        while line := await self._proc.stdout.readline():
            text = line.decode(errors="replace").strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = {"event": "stdout", "line": text}
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()
        async with self._changed:
            self.events.append({"event": "process_exit", "code": await self._proc.wait()})
            self._changed.notify_all()

    async def _read_stderr(self) -> None:
        assert self._proc and self._proc.stderr
        while line := await self._proc.stderr.readline():
            self.stderr_lines.append(line.decode(errors="replace").rstrip())
            del self.stderr_lines[:-400]

    def _match(self, event: HarnessEvent, kind: str | None, predicate: EventPredicate | None,
               fields: dict[str, object]) -> bool:
        if kind is not None and event.get("event") != kind:
            return False
        if any(event.get(k) != v for k, v in fields.items()):
            return False
        return predicate is None or predicate(event)

    async def wait_for(
        self,
        kind: str | None = None,
        predicate: EventPredicate | None = None,
        *,
        timeout: float = 30.0,
        **fields: object,
    ) -> HarnessEvent:
        """The oldest not-yet-returned event of `kind` whose fields equal `fields` and matching `predicate`.

        Each event is returned at most once, so waiting twice for `connection open` needs two opens.
        """

        def find() -> HarnessEvent | None:
            for index, event in enumerate(self.events):
                if index not in self._consumed and self._match(event, kind, predicate, fields):
                    self._consumed.add(index)
                    return event
            return None

        async def wait() -> HarnessEvent:
            async with self._changed:
                while (found := find()) is None:
                    if self.events and self.events[-1].get("event") == "process_exit" and kind != "process_exit":
                        raise HarnessError(f"harness exited while waiting for {kind} {fields}\n{self.debug_tail()}")
                    await self._changed.wait()
                return found

        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise HarnessError(f"no {kind} {fields} event within {timeout}s\n{self.debug_tail()}") from None

    def seen(self, kind: str, **fields: object) -> list[HarnessEvent]:
        return [e for e in self.events if self._match(e, kind, None, fields)]

    def debug_tail(self) -> str:
        events = "\n".join(json.dumps(e)[:300] for e in self.events[-25:])
        stderr = "\n".join(line[:300] for line in self.stderr_lines[-25:])
        return f"last events:\n{events}\nstderr tail:\n{stderr}"

    async def command(self, cmd: str, timeout: float = 30.0, **args: object) -> HarnessEvent:
        """Run a harness command; returns its result event (HarnessError if it reported an error)."""
        assert self._proc and self._proc.stdin
        req = next(self._req_ids)
        self._proc.stdin.write((json.dumps({"cmd": cmd, "req": req, **args}) + "\n").encode())
        await self._proc.stdin.drain()
        event = await self.wait_for(None, lambda e: e.get("req") == req and e.get("event") in ("result", "error"),
                                    timeout=timeout)
        if event["event"] == "error":
            raise HarnessError(f"harness command {cmd} failed: {event.get('error')}\n{self.debug_tail()}")
        return event

    async def chat_modify(self, jid: str, action: str, value: object = None, timeout: float = 30.0) -> None:
        """Write app state as Baileys does (`chatModify`, `addOrEditContact`): action "pin", "mute" (value: the
        mute end in ms, None unmutes), "archive", or "contact" (value: {"fullName", "firstName"}, None removes)."""
        await self.command("chat_modify", timeout, jid=jid, action=action, value=value)

    async def app_state_key_id(self) -> str | None:
        """The app-state key Baileys writes with (`creds.myAppStateKeyId`), None until its phone shared one."""
        key_id = (await self.command("state")).get("appStateKeyId")
        return str(key_id) if key_id else None

    async def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin
                proc.stdin.write(b'{"cmd": "quit"}\n')
                await proc.stdin.drain()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in (self._reader, self._stderr_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._proc = None


# What the `make_baileys` fixture hands a test: `await make_baileys(server, auth_dir, **BaileysHarness kwargs)`.
HarnessFactory = Callable[..., Awaitable[BaileysHarness]]


async def pair_baileys_by_qr(server: EmulatedServer, harness: BaileysHarness, phone: str) -> Device:
    """Helper: have `phone`'s simulated phone scan the harness's QR; returns the linked Device once logged in."""
    qr = (await harness.wait_for("qr"))["qr"]
    primary = server.account(phone).phone
    assert primary is not None, f"account {phone} has no primary phone to scan with"
    device = await primary.scan_qr(qr)
    await harness.wait_for("connection", connection="close", statusCode=515)  # the post-pairing restart
    await harness.wait_for("connection", connection="open")
    return device
