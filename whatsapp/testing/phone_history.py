"""The simulated phone's history sync: what a real phone sends a newly linked companion about the account.

After a companion's first login (`ServerSettings.history_sync`), or when a test calls `send`, the phone
sends it chunks of a `HistorySync` (whatsmeow `proto/waHistorySync`, Baileys `WAProto` HistorySync), each
announced by a `protocolMessage{type=HISTORY_SYNC_NOTIFICATION(5), historySyncNotification(6)}`:

- INITIAL_BOOTSTRAP, inline (`initialHistBootstrapInlinePayload(11)`, as the companions' DeviceProps ask
  with `inlineInitialPayloadInE2EeMsg`): the account's nctSalt(19), a PN↔LID pair per known account
  (phoneNumberToLidMappings(15)), and a conversation per contact who issued the account a trust token
  (ID = the contact's LID, pnJID(39), tcToken(21), tcTokenTimestamp(22), tcTokenSenderTimestamp(28));
- PUSH_NAME, uploaded to the media host as an "md-msg-hist" blob (directPath, mediaKey, hashes): the
  push names of the account itself and of every other account.

The payload is zlib-compressed and, when uploaded, encrypted as media is (HKDF-SHA256 of the media key with
info "WhatsApp History Keys" into IV, AES-256-CBC key and MAC key; body = ciphertext + first 10 bytes of
HMAC-SHA256 over IV and ciphertext). The message goes to the companion as a peer message from the account:
`<message from=<account PN> id type="text" category="peer" t><enc v="2" type="pkmsg|msg">` under the
phone's own Signal session with that device (built from its published keys when there is none yet). The
companion answers `<receipt type="hist_sync">` (whatsmeow SendProtocolMessageReceipt, Baileys
`messages-recv.ts`): acked, recorded as a "hist_sync_receipt" server event, and not forwarded.

Everything is written here from the definitions (the proto, the media-key derivation, the padding), never
with the client's history module, so a misreading on one side shows.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
import zlib
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from loguru import logger

from whatsapp.binary import Node
from whatsapp.proto import e2e_pb2, history_sync_pb2
from whatsapp.signal import LocalIdentity, PreKeyBundle, SessionRecord, build_session_from_bundle, encrypt_message
from whatsapp.testing.delivery import Delivery, deliver
from whatsapp.testing.dispatch import HandlerContext, Handlers, StanzaHandler
from whatsapp.testing.media_host import MediaHost
from whatsapp.testing.receipts import receipt_ack
from whatsapp.testing.settings import ServerSettings
from whatsapp.testing.state import Account, Device, ServerState
from whatsapp.testing.tokens import valid_at
from whatsapp.testing.unacked import settle

Sync = history_sync_pb2.HistorySync
HISTORY_INFO = b"WhatsApp History Keys"


@dataclass(frozen=True, slots=True)
class SentChunk:
    message_id: str
    device: Device
    sync_type: str
    direct_path: str | None  # None when inline


def bootstrap_chunk(state: ServerState, account: Account) -> Sync:
    """The first chunk: the nctSalt, everyone's PN↔LID pair, a conversation per contact's trust token."""
    sync = Sync(syncType=Sync.INITIAL_BOOTSTRAP, chunkOrder=1, progress=100, nctSalt=account.nct_salt)
    now = int(time.time())
    for other in state.accounts.values():
        if other is account:
            continue
        pn, lid = f"{other.phone_number}@s.whatsapp.net", f"{other.lid}@lid"
        sync.phoneNumberToLidMappings.add(pnJID=pn, lidJID=lid)
        theirs = [t for t in other.issued_tokens.get(account.phone_number, []) if valid_at(t, now)]
        if not theirs:
            continue
        conversation = sync.conversations.add(ID=lid, pnJID=pn, tcToken=theirs[-1].token,
                                              tcTokenTimestamp=theirs[-1].t)
        ours = account.issued_tokens.get(other.phone_number)
        if ours:
            conversation.tcTokenSenderTimestamp = ours[-1].t
    return sync


def push_name_chunk(state: ServerState, account: Account) -> Sync:
    sync = Sync(syncType=Sync.PUSH_NAME, chunkOrder=2, progress=100)
    for other in state.accounts.values():
        sync.pushnames.add(ID=f"{other.phone_number}@s.whatsapp.net", pushname=other.push_name)
    return sync


def encrypt_blob(plaintext: bytes, media_key: bytes) -> bytes:
    expanded = HKDF(algorithm=hashes.SHA256(), length=112, salt=None, info=HISTORY_INFO).derive(media_key)
    iv, cipher_key, mac_key = expanded[:16], expanded[16:48], expanded[48:80]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(cipher_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return ciphertext + hmac.new(mac_key, iv + ciphertext, hashlib.sha256).digest()[:10]


def _pad(plaintext: bytes) -> bytes:
    n = 1 + secrets.randbelow(16)  # n bytes of value n, 1..16 (docs/protocol.md §Padding)
    return plaintext + bytes([n]) * n


class PhoneHistory:
    """Sends history-sync chunks from each account's phone and records the companions' receipts."""

    def __init__(self, state: ServerState, settings: ServerSettings, host: MediaHost) -> None:
        self.state = state
        self.settings = settings
        self.host = host
        self.sent: dict[str, SentChunk] = {}  # by message id
        self.receipts: list[tuple[Device, str]] = []  # (companion, message id) of each hist_sync receipt

    def install(self, handlers: Handlers) -> None:
        """The first-login hook, and `<receipt type="hist_sync">` taken before the receipt routing."""
        routed: StanzaHandler | None = handlers.stanza_handlers.get("receipt")

        async def receipt(context: HandlerContext, node: Node) -> None:
            if node.attr_str("type") == "hist_sync" and context.device is not None:
                await context.connection.send_node(receipt_ack(node))
                settle(context.device, node)
                self._record(context.device, node)
            elif routed is not None:
                await routed(context, node)

        async def first_login(context: HandlerContext) -> int:
            device = context.device
            if self.settings.history_sync and device is not None and not device.history_synced:
                device.history_synced = True
                context.connection.spawn(self._send_initial(device))
            return 0

        handlers.stanza("receipt")(receipt)
        handlers.on_login(first_login)

    def _record(self, device: Device, node: Node) -> None:
        message_id = node.attr_str("id") or ""
        chunk = self.sent.get(message_id)
        self.receipts.append((device, message_id))
        logger.info("emulator: {} acknowledged history sync {}{}", device.jid, message_id,
                    "" if chunk is not None else " (which the phone never sent)")
        self.state.emit("hist_sync_receipt", account=device.account, device=device,
                        data={"id": message_id, "known": chunk is not None and chunk.device is device,
                              "sync_type": chunk.sync_type if chunk else None})

    async def _send_initial(self, device: Device) -> None:
        await self.send_initial(device)

    async def send_initial(self, device: Device) -> list[SentChunk]:
        """What the phone sends a new companion: the bootstrap chunk inline, then the push names uploaded."""
        account = device.account
        return [await self.send(device, bootstrap_chunk(self.state, account), inline=True),
                await self.send(device, push_name_chunk(self.state, account))]

    async def send(self, device: Device, sync: Sync | bytes, *, inline: bool = False,
                   corrupt: bool = False) -> SentChunk:
        """One chunk to `device` (a HistorySync, or raw bytes standing for a damaged one), inline or uploaded;
        `corrupt` flips a byte of the uploaded blob after its hashes were taken."""
        raw = sync.SerializeToString() if isinstance(sync, Sync) else sync
        kind = Sync.HistorySyncType.Name(sync.syncType) if isinstance(sync, Sync) else "RECENT"
        compressed = zlib.compress(raw)
        notification = e2e_pb2.HistorySyncNotification(
            syncType=kind,  # the same enum, named and numbered alike in both protos
            chunkOrder=sync.chunkOrder if isinstance(sync, Sync) else 1,
            progress=100,
        )
        direct_path = None
        if inline:
            notification.initialHistBootstrapInlinePayload = compressed
        else:
            media_key = os.urandom(32)
            body = encrypt_blob(compressed, media_key)
            direct_path = self.host.store(body, "md-msg-hist")
            if corrupt:
                self.host.corrupt(direct_path, offset=len(body) // 2)
            notification.mediaKey = media_key
            notification.directPath = direct_path
            notification.fileSHA256 = hashlib.sha256(compressed).digest()
            notification.fileEncSHA256 = hashlib.sha256(body).digest()
            notification.fileLength = len(compressed)
        message = e2e_pb2.Message(protocolMessage=e2e_pb2.ProtocolMessage(
            type=e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION, historySyncNotification=notification))
        message_id = secrets.token_hex(16).upper()
        chunk = SentChunk(message_id, device, kind, direct_path)
        self.sent[message_id] = chunk
        logger.info("emulator: phone {} sends history sync {} ({}, {}) to {}", device.account.phone_number,
                    message_id, kind, "inline" if inline else "uploaded", device.jid)
        self.state.emit("hist_sync_sent", account=device.account, device=device,
                        data={"id": message_id, "sync_type": kind, "direct_path": direct_path})
        await self.send_peer(device, message, message_id)
        return chunk

    async def send_peer(self, device: Device, message: e2e_pb2.Message, message_id: str | None = None) -> str:
        """A peer message from the account's phone to its companion `device` (also app_state.py's key share)."""
        message_id = message_id or secrets.token_hex(16).upper()
        enc_type, ciphertext = self._encrypt(device, _pad(message.SerializeToString()))
        node = Node("message", {"from": device.account.jid, "id": message_id, "type": "text", "category": "peer",
                                "t": str(int(time.time()))},
                    [Node("enc", {"v": "2", "type": enc_type}, ciphertext)])
        await deliver([Delivery(device, node)])
        return message_id

    def _encrypt(self, device: Device, plaintext: bytes) -> tuple[str, bytes]:
        """Under the phone's session with the companion, started from its published keys when there is none."""
        account = device.account
        keys = account.phone_keys
        me = LocalIdentity(account.identity, keys.registration_id)
        address = f"{account.lid}.{device.device_id}"  # as phone_inbox.py keys the sessions it reads with
        stored = keys.sessions.get(address)
        record = SessionRecord.from_bytes(stored) if stored is not None else None
        if record is None or not record.has_open_session:
            spk = device.signed_prekey
            assert spk is not None and device.identity_public is not None and device.registration_id is not None
            prekey = device.take_prekey()
            bundle = PreKeyBundle(
                registration_id=device.registration_id, device_id=device.device_id,
                identity_key=device.identity_public, signed_pre_key_id=spk.key_id,
                signed_pre_key_public=spk.public, signed_pre_key_signature=spk.signature,
                pre_key_id=prekey.key_id if prekey else None, pre_key_public=prekey.public if prekey else None,
            )
            built = build_session_from_bundle(record, me, bundle, known_identity=keys.identities.get(address))
            record = built.record
            keys.identities[address] = built.remote_identity
        record, encrypted = encrypt_message(record, me, plaintext)
        keys.sessions[address] = record.to_bytes()
        return encrypted.type, encrypted.body
