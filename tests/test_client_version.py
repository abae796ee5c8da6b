"""The WA Web version: parsing, the page, the cache, renewal at start and after a 405 (whatsapp/version.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from whatsapp import events
from whatsapp.auth import MemoryAuthState
from whatsapp.binary import Node
from whatsapp.client import Client
from whatsapp.payload import DEFAULT_VERSION
from whatsapp.reconnect import Action, DisconnectKind, ReconnectPolicy, reason_from_failure
from whatsapp.testing import EmulatedServer
from whatsapp.testing.version_page import VersionPage
from whatsapp.version import (
    BROWSER_HEADERS,
    CACHE_CHECKED,
    CACHE_VERSION,
    DEFAULT_VERSION_URL,
    VersionPolicy,
    VersionRenewal,
    cached,
    default_version_url,
    fetch_revision,
    parse_revision,
    parse_version,
)

PHONE = "15550004444"
NOW = 1_790_000_000.0


def test_version_strings_are_three_32_bit_numbers() -> None:
    assert parse_version("2.3000.1045649367") == (2, 3000, 1045649367)
    assert parse_version(" 2.3000.7 ") == (2, 3000, 7)
    for bad in ("2.3000", "2.3000.x", "2.3000.1.4", "", "2.3000.-1", "2.3000.4294967296"):
        with pytest.raises(ValueError):
            parse_version(bad)


def test_revision_is_read_from_the_page() -> None:
    page = b'<script>self.__SERVER_CONFIG={"server_revision":1,"client_revision":1046000123,"hsi":"x"}</script>'
    assert parse_revision(page) == 1046000123
    assert parse_revision(b'"client_revision": 12') is None  # WA Web writes no space; neither do we accept one
    assert parse_revision(b"<html>nothing here</html>") is None
    assert parse_revision(b'"client_revision":0,') is None


def test_only_whatsapps_own_server_fetches_whatsapps_page() -> None:
    assert default_version_url("wss://web.whatsapp.com/ws/chat") == DEFAULT_VERSION_URL
    assert default_version_url("ws://127.0.0.1:4000/ws/chat") is None


def test_cache_reads_back_and_ignores_junk() -> None:
    assert cached({CACHE_VERSION: "2.3000.5", CACHE_CHECKED: 17}) == ((2, 3000, 5), 17.0)
    assert cached({CACHE_VERSION: "nonsense", CACHE_CHECKED: True}) == (None, None)
    assert cached({}) == (None, None)


class FakeFetch:
    def __init__(self, *answers: int | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def __call__(self, url: str, timeout: float) -> int:
        self.calls.append(url)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_start_fetches_a_stale_revision_and_caches_it() -> None:
    auth = MemoryAuthState()
    fetch = FakeFetch(DEFAULT_VERSION[2] + 10)
    renewal = VersionRenewal(auth, VersionPolicy(url="http://page/"), fetch=fetch, wall=lambda: NOW)
    await renewal.prepare()
    assert renewal.current == (2, 3000, DEFAULT_VERSION[2] + 10)
    assert cached(auth.creds.extra) == (renewal.current, NOW)

    # Checked less than a day ago: the cache is used as is, nothing fetched.
    again = VersionRenewal(auth, VersionPolicy(url="http://page/"), fetch=FakeFetch(), wall=lambda: NOW + 3600)
    await again.prepare()
    assert again.current == renewal.current

    # A day later the page is asked again.
    later = FakeFetch(DEFAULT_VERSION[2] + 11)
    third = VersionRenewal(auth, VersionPolicy(url="http://page/"), fetch=later, wall=lambda: NOW + 90_000)
    await third.prepare()
    assert later.calls == ["http://page/"] and third.current[2] == DEFAULT_VERSION[2] + 11


async def test_a_failed_fetch_never_blocks_the_start() -> None:
    auth = MemoryAuthState()
    renewal = VersionRenewal(auth, VersionPolicy(url="http://page/"), fetch=FakeFetch(OSError("no route")))
    await renewal.prepare()
    assert renewal.current == DEFAULT_VERSION and CACHE_VERSION not in auth.creds.extra

    async def hangs(url: str, timeout: float) -> int:
        await asyncio.sleep(60)
        return 1

    slow = VersionRenewal(auth, VersionPolicy(url="http://page/", timeout=0.05), fetch=hangs)
    await asyncio.wait_for(slow.prepare(), 2)
    assert slow.current == DEFAULT_VERSION


async def test_pinned_version_is_announced_and_an_older_cache_never_wins() -> None:
    auth = MemoryAuthState()
    auth.creds.extra.update({CACHE_VERSION: "2.3000.1", CACHE_CHECKED: NOW})
    renewal = VersionRenewal(auth, VersionPolicy(url="http://page/"), fetch=FakeFetch(), wall=lambda: NOW)
    await renewal.prepare()
    assert renewal.current == DEFAULT_VERSION  # the built-in one is newer than that cache
    pinned = VersionRenewal(auth, VersionPolicy(pinned=(2, 3000, 42), url="http://page/"), fetch=FakeFetch())
    await pinned.prepare()
    assert pinned.current == (2, 3000, 42)


async def test_a_405_tries_the_fetched_version_once_then_stops_with_advice() -> None:
    policy = ReconnectPolicy()
    reason = reason_from_failure(Node("failure", {"reason": "405"}))
    stop = policy.decide(reason)
    assert stop.action is Action.STOP
    newer = DEFAULT_VERSION[2] + 5
    renewal = VersionRenewal(MemoryAuthState(), VersionPolicy(url="http://page/"), fetch=FakeFetch(newer, newer))
    retry = await renewal.after_refusal(reason, stop)
    assert retry.action is Action.RECONNECT and retry.delay == 0
    assert retry.message == (f"WhatsApp refused version 2.3000.{DEFAULT_VERSION[2]} as outdated; retrying with "
                             f"2.3000.{newer}")
    assert renewal.current == (2, 3000, newer)
    final = await renewal.after_refusal(reason, stop)  # the fetched one was refused too
    assert final.action is Action.STOP and "set WA_VERSION" in final.message and f"2.3000.{newer}" in final.message

    unconfigured = VersionRenewal(MemoryAuthState(), VersionPolicy())
    assert (await unconfigured.after_refusal(reason, stop)).action is Action.STOP


async def test_page_is_fetched_with_browser_headers() -> None:
    async with VersionPage(1_046_111_111) as page:
        assert await fetch_revision(page.url, 5.0) == 1_046_111_111
        sent = page.requests[0]
        for name in ("User-Agent", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Accept-Language"):
            assert sent[name] == BROWSER_HEADERS[name]
        page.status = 503
        with pytest.raises(ValueError, match="503"):
            await fetch_revision(page.url, 5.0)
        page.status, page.revision = 200, None
        with pytest.raises(ValueError, match="no client_revision"):
            await fetch_revision(page.url, 5.0)


async def _pair(client: Client, server: EmulatedServer) -> None:
    qr: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    connected = asyncio.Event()

    def first_qr(event: events.QR) -> None:
        if not qr.done():
            qr.set_result(event.code)

    client.add_handler(events.QR, first_qr)
    client.add_handler(events.Connected, lambda e: connected.set())
    await client.start()
    await server.account(PHONE).phone.scan_qr(await asyncio.wait_for(qr, 10))
    await asyncio.wait_for(connected.wait(), 10)


def _checked_recently(auth: MemoryAuthState) -> MemoryAuthState:
    """A session whose cached version (the built-in one) was checked a minute ago: no fetch at start."""
    auth.creds.extra.update({CACHE_VERSION: ".".join(map(str, DEFAULT_VERSION)), CACHE_CHECKED: time.time() - 60})
    return auth


async def test_client_refused_with_405_fetches_the_current_version_and_pairs() -> None:
    floor = (2, 3000, DEFAULT_VERSION[2] + 1000)
    async with EmulatedServer(min_version=floor) as server, VersionPage(floor[2]) as page:
        server.create_account(PHONE)
        client = Client(_checked_recently(MemoryAuthState()), url=server.url, root_public_key=server.root_public_key,
                        version_url=page.url)
        try:
            await _pair(client, server)
            refused = server.state.events.of_kind("login_failed")
            assert [e.data["reason"] for e in refused] == ["405"]  # the registration with the old build
            assert client.versions.current == floor and len(page.requests) == 1  # after the 405 only
            assert cached(client.auth.creds.extra)[0] == floor
            assert client.history[0][1].action is Action.RECONNECT
            assert client.history[0][1].message == (f"WhatsApp refused version 2.3000.{DEFAULT_VERSION[2]} as "
                                                    f"outdated; retrying with 2.3000.{floor[2]}")
        finally:
            await client.close()


async def test_a_stale_cache_is_renewed_at_start_before_the_server_can_refuse_it() -> None:
    floor = (2, 3000, DEFAULT_VERSION[2] + 1000)
    async with EmulatedServer(min_version=floor) as server, VersionPage(floor[2]) as page:
        server.create_account(PHONE)
        auth = MemoryAuthState()
        auth.creds.extra.update({CACHE_VERSION: ".".join(map(str, DEFAULT_VERSION)), CACHE_CHECKED: 1})
        client = Client(auth, url=server.url, root_public_key=server.root_public_key, version_url=page.url)
        try:
            await _pair(client, server)
            assert not server.state.events.of_kind("login_failed") and len(page.requests) == 1
        finally:
            await client.close()


async def test_client_stops_when_the_fetched_version_is_refused_too() -> None:
    floor = (2, 3000, DEFAULT_VERSION[2] + 1000)
    async with EmulatedServer(min_version=floor) as server, VersionPage(floor[2] - 1) as page:
        client = Client(_checked_recently(MemoryAuthState()), url=server.url, root_public_key=server.root_public_key,
                        version_url=page.url)
        outdated: list[events.ClientOutdated] = []
        client.add_handler(events.ClientOutdated, outdated.append)
        reason = await asyncio.wait_for(client.run(), 15)
        assert reason.kind is DisconnectKind.OUTDATED and len(outdated) == 1
        # The built-in build, then the fetched one (still below the floor): refused both times, then a stop.
        assert [e.data["reason"] for e in server.state.events.of_kind("login_failed")] == ["405", "405"]
        assert client.versions.current == (2, 3000, floor[2] - 1)
        assert "set WA_VERSION" in client.history[-1][1].message
        await client.close()
