"""A logout that unlinks: `client.logout()` removes this companion on the server (the phone's "Linked devices"
no longer lists it), the connection ends as logged out, and the session leaves both copies through the archive
(the same path a 401 from the phone takes); the next start pairs anew."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage import SessionMonitor, open_store
from storage.archive import list_archives
from tests.fixtures.mongo import MongoTestServer
from tests.storage_helpers import fast_mongo_config
from tests.test_storage_ops_archive import PHONE, Seen, _folded_credentials, make_client
from whatsapp import events
from whatsapp.errors import NotPaired
from whatsapp.jid import JID
from whatsapp.reconnect import DisconnectKind
from whatsapp.testing import EmulatedServer

pytestmark = pytest.mark.mongo


async def test_logout_unlinks_archives_both_copies_and_the_next_start_pairs_anew(
    tmp_path: Path, mongo_server: MongoTestServer, mongo_db_name: str
) -> None:
    config = fast_mongo_config(tmp_path, mongo_server.uri, mongo_db_name)
    async with EmulatedServer() as server:
        account = server.create_account(PHONE)
        store = await open_store(config)
        await store.acquire_lease()
        seen = Seen()
        client = make_client(server, store, seen)
        # A daemon's policy pairs again after an unlink from the phone; its own logout must stop instead.
        client.policy.pair_again_after_logout = True
        monitor = SessionMonitor(config)
        monitor.attach(client, store)
        await client.start()
        await account.phone.scan_qr((await seen.wait(events.QR)).code)
        await seen.wait(events.Connected)
        await seen.wait(events.PrekeysUploaded)
        me_id = store.creds.me_id
        assert me_id and [str(d.jid) for d in account.phone.linked_devices()] == [me_id]
        devices = await client.account_devices()
        assert [(d.device_id, d.this_device) for d in devices] == [(0, False), (JID.parse(me_id).device, True)]
        await _folded_credentials(mongo_server.uri, mongo_db_name, config.session_id)

        reason = await client.logout()
        assert reason.kind is DisconnectKind.LOGGED_OUT and "this device" in reason.text
        assert account.phone.linked_devices() == []
        assert not client.running and len([e for e in seen.events if isinstance(e, events.QR)]) == 1
        await monitor.aclose()
        await store.close()

        cleared = await open_store(config)
        assert cleared.snapshot().creds is None and not cleared.snapshot().keys
        [entry] = await list_archives(config)
        assert entry.folder is not None and entry.in_mongodb and "logged out by this device" in entry.reason
        # The next start is a new pairing (a QR), and that device is a new one on the phone.
        await cleared.acquire_lease()
        again = Seen()
        fresh = make_client(server, cleared, again)
        await fresh.start()
        await again.wait(events.QR)
        with pytest.raises(NotPaired):
            await fresh.logout()
        await fresh.close()
        await cleared.close()
