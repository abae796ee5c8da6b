"""Our client's media transfer through the emulator's HTTPS media hosts: media_conn, upload and download,
another host on failure, a refused token, the size cap, a corrupt blob, and expired media recovered
through the media-retry round trip to the phone (whatsapp/download.py, upload.py, mediaretry.py)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from loguru import logger

from tests.media_support import png
from whatsapp.errors import MediaIntegrityError, MediaRetryError, MediaTooLarge
from whatsapp.media_message import downloadable
from whatsapp.media_send import MediaSpec, build_message
from whatsapp.messages import MessageReceived
from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.peers import PEOPLE, PyPeer, paired_python, pn

pytestmark = pytest.mark.slow


@pytest.fixture
async def pair(emulator: EmulatedServer) -> AsyncIterator[tuple[PyPeer, PyPeer]]:
    sender = await paired_python(emulator, name="py")
    receiver = await paired_python(emulator, name="alice")
    yield sender, receiver
    await sender.close()
    await receiver.close()


async def document_to(sender: PyPeer, receiver: PyPeer, data: bytes, name: str = "blob.bin") -> MessageReceived:
    sent = await sender.client.send_document(pn("alice"), data, file_name=name)
    return await receiver.message(sent.id)


def direct_path(message: MessageReceived) -> str:
    item = downloadable(message.message)
    assert item is not None and item.direct_path
    return item.direct_path


async def test_upload_and_download_with_media_conn_cached(emulator: EmulatedServer, pair: tuple[PyPeer, PyPeer],
                                                          tmp_path: Path) -> None:
    sender, receiver = pair
    data = os.urandom(700_000)
    message = await document_to(sender, receiver, data)
    assert message.media is not None and message.media.size == len(data) and message.media.file_name == "blob.bin"
    assert await message.download() == data
    target = tmp_path / "copy.bin"
    assert await message.download(target) == target and target.read_bytes() == data
    assert not (tmp_path / "copy.bin.part").exists()
    # One media_conn per client: the second transfer reused the cached hosts and token.
    conns = emulator.state.events.of_kind("media_conn")
    assert sorted(e.account.phone_number for e in conns if e.account) == sorted([PEOPLE["py"][0], PEOPLE["alice"][0]])


async def test_another_host_on_failure_both_ways(emulator: EmulatedServer, pair: tuple[PyPeer, PyPeer]) -> None:
    sender, receiver = pair
    emulator.media.fail(0, status=503, count=1)  # the upload's first host
    data = os.urandom(50_000)
    message = await document_to(sender, receiver, data)
    uploaded = emulator.state.events.of_kind("media_uploaded")[0]
    assert uploaded.data["host"] == emulator.media.hostnames[1]
    emulator.media.fail(0, status=500, count=1)  # the download's first host
    assert await message.download() == data
    refused = [e.data["status"] for e in emulator.state.events.of_kind("media_refused")]
    assert refused == [503, 500]


async def test_a_refused_token_is_renewed_once(emulator: EmulatedServer, pair: tuple[PyPeer, PyPeer]) -> None:
    sender, receiver = pair
    await document_to(sender, receiver, b"first")
    emulator.media.revoke_tokens()  # as after auth_ttl: the cached token is refused with 401
    data = os.urandom(1000)
    message = await document_to(sender, receiver, data)
    assert await message.download() == data
    py_conns = [e for e in emulator.state.events.of_kind("media_conn")
                if e.account and e.account.phone_number == PEOPLE["py"][0]]
    assert len(py_conns) == 2
    assert [e.data["status"] for e in emulator.state.events.of_kind("media_refused")] == [401]


async def test_tokens_that_expire_at_once_fail_the_upload_cleanly(emulator: EmulatedServer,
                                                                    pair: tuple[PyPeer, PyPeer]) -> None:
    from whatsapp.errors import MediaUploadError

    sender, _ = pair
    emulator.media.settings.auth_ttl = 0  # every token issued from now on is already expired
    emulator.media.revoke_tokens()
    with pytest.raises(MediaUploadError) as caught:
        await sender.client.upload_media(b"never stored", "document")
    assert caught.value.status == 401
    assert emulator.media.uploads == 0
    emulator.media.settings.auth_ttl = 3600
    assert (await sender.client.upload_media(b"stored", "document")).direct_path  # a fresh token works again


async def test_the_size_cap_stops_a_download_and_leaves_nothing(emulator: EmulatedServer,
                                                                pair: tuple[PyPeer, PyPeer], tmp_path: Path) -> None:
    sender, receiver = pair
    data = os.urandom(300_000)
    message = await document_to(sender, receiver, data)
    item = downloadable(message.message)
    assert item is not None
    downloads = len(emulator.state.events.of_kind("media_downloaded"))
    with pytest.raises(MediaTooLarge):  # the declared size is over the cap: not even asked for
        await receiver.client.download_media(item, tmp_path / "big.bin", max_bytes=100_000)
    assert len(emulator.state.events.of_kind("media_downloaded")) == downloads
    # A sender that under-states fileLength is stopped while streaming, not trusted.
    upload = await sender.client.upload_media(data, "document")
    lying = build_message(MediaSpec("document", mimetype="application/octet-stream", file_name="x"), upload)
    lying.documentMessage.fileLength = 10
    sent = await sender.client.send_message(pn("alice"), lying)
    small = downloadable((await receiver.message(sent.id)).message)
    assert small is not None and small.file_length == 10
    with pytest.raises(MediaTooLarge):
        await receiver.client.download_media(small, tmp_path / "big.bin", max_bytes=100_000)
    assert list(tmp_path.iterdir()) == []
    assert await receiver.client.download_media(small, max_bytes=None) == data  # no cap: the real size


async def test_the_clients_cap_comes_from_its_options(emulator: EmulatedServer) -> None:
    from whatsapp.auth import MemoryAuthState
    from whatsapp.client import Client
    from whatsapp.media_message import Downloadable

    client = Client(MemoryAuthState(), media=emulator.media.client_options(max_download_bytes=1000))
    item = Downloadable("image", "/v/x", None, bytes(32), None, None, 1001)
    with pytest.raises(MediaTooLarge) as caught:  # refused before any request: no connection needed
        await client.download_media(item)
    assert caught.value.limit == 1000
    await client.close()


async def test_a_corrupt_blob_is_one_mac_error_line_and_nothing_breaks(
        emulator: EmulatedServer, pair: tuple[PyPeer, PyPeer], tmp_path: Path) -> None:
    sender, receiver = pair
    message = await document_to(sender, receiver, os.urandom(80_000))
    emulator.media.corrupt(direct_path(message), offset=1234)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(m.record["message"]), level="WARNING")
    try:
        with pytest.raises(MediaIntegrityError) as caught:
            await message.download(tmp_path / "bad.bin")
    finally:
        logger.remove(sink)
    assert caught.value.check == "mac"
    assert len(lines) == 1 and "MAC" in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # no file, no .part
    # The client carries on: the next message and its media go through.
    data = os.urandom(5000)
    assert await (await document_to(sender, receiver, data)).download() == data


async def test_expired_media_is_uploaded_again_by_the_phone(emulator: EmulatedServer,
                                                            pair: tuple[PyPeer, PyPeer]) -> None:
    sender, receiver = pair
    image = png(64, 48)
    sent = await sender.client.send_image(pn("alice"), image, caption="later")
    message = await receiver.message(sent.id)
    old_path = direct_path(message)
    emulator.media.expire(old_path)
    item = downloadable(message.message)
    assert item is not None and item.file_enc_sha256 is not None
    # The receiving account's phone decrypted its own copy of the message: it has the media.
    emulator.phone_media.phone_has(emulator.account(PEOPLE["alice"][0]), message.id, item.media_key,
                                   item.file_enc_sha256)
    assert await message.download() == image
    retry = emulator.state.events.of_kind("media_retry")[0]
    assert retry.data["result"] == "SUCCESS" and retry.data["direct_path"] != old_path
    statuses = [e.data["status"] for e in emulator.state.events.of_kind("media_refused")]
    assert statuses == [410]


async def test_blob_ttl_and_a_phone_without_the_media(emulator: EmulatedServer, pair: tuple[PyPeer, PyPeer]) -> None:
    sender, receiver = pair
    message = await document_to(sender, receiver, os.urandom(2000))
    emulator.media.settings.blob_ttl = 0.0
    await asyncio.sleep(0.01)
    with pytest.raises(MediaRetryError) as caught:
        await message.download()
    assert caught.value.code == 2  # not on the phone: nobody can upload it again
    assert [e.data["result"] for e in emulator.state.events.of_kind("media_retry")] == ["not on phone"]


async def test_an_event_without_a_client_cannot_download() -> None:
    from whatsapp.errors import MediaError
    from whatsapp.jid import JID
    from whatsapp.proto import e2e_pb2

    message = e2e_pb2.Message()
    message.imageMessage.mimetype = "image/png"
    event = MessageReceived(chat=JID.parse("1@s.whatsapp.net"), sender=JID.parse("1@s.whatsapp.net"), id="X",
                            timestamp=0, push_name=None, from_me=False, is_group=False, offline=False,
                            message=message)
    assert event.media is not None and event.media.type == "image"
    with pytest.raises(MediaError):
        await event.download()
