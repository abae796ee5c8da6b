"""Pruning stored trust-token records (whatsapp/tokenprune.py, whatsapp/trust.py): the expired ones go, the
ones still needed stay, each pass is bounded, and it runs at login and then a day apart at most."""

from __future__ import annotations

from tests.client_support import Rig
from whatsapp.abprops import ServerProps
from whatsapp.auth import KeyType, MemoryAuthState
from whatsapp.binary import Node
from whatsapp.errors import StorageError
from whatsapp.jid import JID
from whatsapp.tctoken import BUCKET_SECONDS, TokenRecord, TokenWindow
from whatsapp.tokenprune import BUCKETS_PER_PASS, BUCKETS_PER_TRANSACTION, INDEX_NAME, PRUNE_INTERVAL
from whatsapp.trust import TrustTokens

WEEK = BUCKET_SECONDS
START = 2900 * WEEK + 12345


class Wall:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


def _rig() -> Rig:
    rig = Rig(MemoryAuthState())
    rig.auth.creds.me_id = "15550009999:3@s.whatsapp.net"
    rig.auth.creds.account = b"\x0a\x00"
    return rig


def _lid(n: int) -> JID:
    return JID(f"1000000{n:08d}", "lid")


def _notification(contact: JID, token: bytes, t: int) -> Node:
    return Node("notification", {"from": contact, "type": "privacy_token", "id": "7"}, [
        Node("tokens", {}, [Node("token", {"t": str(t), "type": "trusted_contact"}, token)])])


def _memory(rig: Rig) -> MemoryAuthState:
    assert isinstance(rig.auth, MemoryAuthState)
    return rig.auth


def _records(rig: Rig) -> dict[str, bytes]:
    return dict(_memory(rig).keys.get(KeyType.TC_TOKEN, {}))


def test_a_record_is_prunable_when_nothing_in_it_matters() -> None:
    window = TokenWindow()
    cutoff = window.cutoff(START)
    assert TokenRecord(b"t", cutoff - 1, None).prunable(window, START)  # token just outside the window
    assert not TokenRecord(b"t", cutoff, None).prunable(window, START)  # still valid
    assert TokenRecord(None, None, None).prunable(window, START)
    # Her token expired, but we issued ours this bucket: kept, or the next send would issue it again.
    assert not TokenRecord(b"t", cutoff - 1, START - 10).prunable(window, START)
    assert TokenRecord(b"t", cutoff - 1, START - WEEK).prunable(window, START)
    flagged = TokenRecord(b"t", 1, 2, indexed=True)
    assert flagged == TokenRecord(b"t", 1, 2)  # bookkeeping, not content
    again, plain = TokenRecord.from_bytes(flagged.to_bytes()), TokenRecord.from_bytes(TokenRecord().to_bytes())
    assert again is not None and again.indexed and plain is not None and not plain.indexed


async def test_expired_records_are_deleted_and_valid_ones_kept() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    await trust.on_privacy_token(_notification(_lid(1), b"old", START - 100))
    await trust.on_privacy_token(_notification(_lid(2), b"also-old", START - 90))
    wall.now = START + 2 * WEEK
    await trust.on_privacy_token(_notification(_lid(3), b"fresh", wall.now))
    assert len(_records(rig)) == 3
    assert all(TokenRecord.from_bytes(raw).indexed for raw in _records(rig).values())  # type: ignore[union-attr]

    await trust.prune_expired()  # a fortnight later: nothing is expired yet
    assert set(_records(rig)) == {f"{_lid(n)}" for n in (1, 2, 3)}

    wall.now = START + 4 * WEEK  # 1 and 2 are outside the 4-bucket window now, 3 is not
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.prune_expired()
    assert set(_records(rig)) == {str(_lid(3))}
    assert await trust.stanza_nodes(_lid(3)) != []

    wall.now = START + 9 * WEEK
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.prune_expired()
    assert _records(rig) == {}
    # The contact writes again: a new record, listed again, prunable again in its turn.
    await trust.on_privacy_token(_notification(_lid(1), b"back", wall.now))
    assert await trust.stanza_nodes(_lid(1)) != [] and len(_records(rig)) == 1


async def test_a_record_whose_token_expired_stays_while_our_issue_is_recent() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    await trust.on_privacy_token(_notification(_lid(1), b"old", START - 100))
    wall.now = START + 4 * WEEK
    await trust.issue(_lid(1))  # we write to her: ours issued this bucket
    await trust.prune_expired()
    record = TokenRecord.from_bytes(_records(rig)[str(_lid(1))])
    assert record is not None and record.sender_t == wall.now  # kept: no second issue within the bucket
    wall.now += 2 * WEEK
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.prune_expired()
    assert _records(rig) == {}


async def test_a_pass_is_bounded_and_the_next_one_goes_on() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    per_pass = BUCKETS_PER_PASS * 64
    total = per_pass + 64 * 3
    batch: list[tuple[JID, bytes, int, int | None]] = [(_lid(n), b"tok", START - 100, None) for n in range(total)]
    assert await trust.store_tokens(batch) == total
    wall.now = START + 5 * WEEK
    commits = _memory(rig).commits
    await trust.prune_expired()
    left = len(_records(rig))
    assert left == total - per_pass  # one pass: at most BUCKETS_PER_PASS buckets of 64
    assert _memory(rig).commits - commits == BUCKETS_PER_PASS // BUCKETS_PER_TRANSACTION  # in small transactions
    await trust.prune_expired()
    assert len(_records(rig)) == left  # a day apart at most
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.prune_expired()
    assert _records(rig) == {}
    head = _memory(rig).keys[KeyType.INDEX][INDEX_NAME]
    assert b'"buckets": []' in head and len(_memory(rig).keys[KeyType.INDEX]) == 1  # the index emptied too


async def test_sends_trigger_a_pass_in_the_background_a_day_apart() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    await trust.on_privacy_token(_notification(_lid(1), b"old", START - 100))
    await trust.prune_expired()  # the login pass
    wall.now = START + 5 * WEEK
    await trust.stanza_nodes(_lid(2))
    await rig.control.settle()
    assert str(_lid(1)) in _records(rig)  # within the day: no pass
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.stanza_nodes(_lid(2))
    await rig.control.settle()
    assert _records(rig) == {}


async def test_records_from_before_the_index_are_listed_when_next_touched() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    async with rig.auth.transaction() as tx:  # written by an older version (or imported): not listed
        tx.set(KeyType.TC_TOKEN, str(_lid(1)), TokenRecord(b"legacy", START - 100, START - 50).to_bytes())
    await trust.issue(_lid(1))  # not due (issued this bucket), but the record gets listed
    stored = TokenRecord.from_bytes(_records(rig)[str(_lid(1))])
    assert stored is not None and stored.indexed and stored == TokenRecord(b"legacy", START - 100, START - 50)
    wall.now = START + 5 * WEEK
    await trust.prune_expired()
    assert _records(rig) == {}


async def test_a_failed_pass_is_logged_and_leaves_the_records() -> None:
    rig, wall = _rig(), Wall(START)
    trust = TrustTokens(rig.ctx, ServerProps(), wall=wall)
    await trust.on_privacy_token(_notification(_lid(1), b"old", START - 100))
    wall.now = START + 5 * WEEK

    async def refuse(_tx: object) -> None:
        raise StorageError("disk full")

    original = rig.auth.commit
    rig.auth.commit = refuse  # type: ignore[method-assign,assignment]
    await trust.prune_expired()  # no exception: the upkeep goes on
    rig.auth.commit = original  # type: ignore[method-assign]
    assert str(_lid(1)) in _records(rig)
    rig.clock.now_value += PRUNE_INTERVAL
    await trust.prune_expired()
    assert _records(rig) == {}
