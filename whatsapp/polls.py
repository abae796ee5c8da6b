"""Polls: the creation message, and votes encrypted with the poll's message secret. Pure functions.

A vote is a `pollUpdateMessage` naming the poll by its key and carrying a `PollVoteMessage` (the SHA-256
of each chosen option's name) sealed with AES-256-GCM. The key comes from the poll's
`messageContextInfo.messageSecret` (whatsapp/msgsecret.py): HKDF-SHA256 without salt, info = poll id ||
poll creator || voter || "Poll Vote", 32 bytes; the additional data is `poll id \\0 voter`; the nonce 12
random bytes (whatsmeow `msgsecret.go`, Baileys `src/Utils/process-message.ts` decryptPollVote). Creator
and voter are user JIDs without device. Which address (PN or LID) a client wrote there depends on the
chat's addressing, so decryption tries the pairs it can know.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from hashlib import sha256

from whatsapp.cipher import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256
from whatsapp.errors import CryptoError
from whatsapp.proto import common_pb2, e2e_pb2

VOTE_INFO = b"Poll Vote"
_CREATIONS = ("pollCreationMessage", "pollCreationMessageV2", "pollCreationMessageV3")


def poll_message(name: str, options: Sequence[str], selectable: int = 1) -> e2e_pb2.Message:
    """A poll; `selectable` is how many options a voter may choose (0: any number). Its message secret is
    added when it is sent (whatsapp/msgsecret.py), and kept with the sent message for decrypting votes."""
    if len(options) < 2 or len(set(options)) != len(options):
        raise ValueError("a poll needs at least two distinct options")
    if not 0 <= selectable <= len(options):
        raise ValueError(f"selectable must be between 0 and {len(options)}")
    message = e2e_pb2.Message()
    poll = message.pollCreationMessage
    poll.name = name
    for option in options:
        poll.options.add(optionName=option)
    poll.selectableOptionsCount = selectable
    return message


def poll_creation(message: e2e_pb2.Message) -> e2e_pb2.PollCreationMessage | None:
    for name in _CREATIONS:
        if message.HasField(name):
            found: e2e_pb2.PollCreationMessage = getattr(message, name)
            return found
    return None


def option_hash(option: str) -> bytes:
    return sha256(option.encode()).digest()


def _key(secret: bytes, poll_id: str, creator: str, voter: str) -> tuple[bytes, bytes]:
    info = poll_id.encode() + creator.encode() + voter.encode() + VOTE_INFO
    return hkdf_sha256(secret, 32, info=info), f"{poll_id}\x00{voter}".encode()


def encrypt_vote(secret: bytes, poll_key: common_pb2.MessageKey, creator: str, voter: str,
                 options: Iterable[str], now_ms: int) -> e2e_pb2.Message:
    """The `pollUpdateMessage` choosing `options` (none withdraws the vote) in the poll `poll_key`."""
    vote = e2e_pb2.PollVoteMessage(selectedOptions=[option_hash(o) for o in options])
    key, aad = _key(secret, poll_key.ID, creator, voter)
    iv = secrets.token_bytes(12)
    message = e2e_pb2.Message()
    update = message.pollUpdateMessage
    update.pollCreationMessageKey.CopyFrom(poll_key)
    update.vote.encPayload = aes_gcm_encrypt(key, iv, vote.SerializeToString(), aad)
    update.vote.encIV = iv
    update.senderTimestampMS = now_ms
    return message


def decrypt_vote(secret: bytes, update: e2e_pb2.PollUpdateMessage, creators: Iterable[str],
                 voters: Iterable[str]) -> list[bytes]:
    """The option hashes of a vote, trying each (creator, voter) address pair; CryptoError when none opens it."""
    poll_id = update.pollCreationMessageKey.ID
    voter_list = list(dict.fromkeys(voters))
    for creator in dict.fromkeys(creators):
        for voter in voter_list:
            key, aad = _key(secret, poll_id, creator, voter)
            try:
                plaintext = aes_gcm_decrypt(key, update.vote.encIV, update.vote.encPayload, aad)
            except CryptoError:
                continue
            vote = e2e_pb2.PollVoteMessage()
            vote.ParseFromString(plaintext)
            return list(vote.selectedOptions)
    raise CryptoError(f"vote in poll {poll_id} does not open with the poll's secret")


def chosen_options(poll: e2e_pb2.PollCreationMessage, hashes: Iterable[bytes]) -> list[str]:
    """The option names the hashes stand for, in the poll's order (unknown hashes are left out)."""
    wanted = set(hashes)
    return [o.optionName for o in poll.options if option_hash(o.optionName) in wanted]
