"""The phone's side of a media retry: a companion whose media expired asks its phone to upload it again
(whatsmeow `mediaretry.go`, Baileys `src/Utils/messages-media.ts` encryptMediaRetryRequest /
decodeMediaRetryNode; the client side is whatsapp/mediaretry.py).

    <receipt id=<message id> to=<own user> type="server-error"><encrypt><enc_p/><enc_iv/></encrypt><rmr .../>
      -> the server acks it and hands it to the account's phone, which answers the asking device with
    <notification type="mediaretry" id=<message id> from=<own user> t><rmr .../>
        <encrypt><enc_p>AES-GCM(MediaRetryNotification{stanzaID, directPath, result})</enc_p><enc_iv/></encrypt>
    </notification>                              (or <error code="2"/> when the phone does not have it)

The emulated phone never decrypts messages, so it knows the media of a message only when the test says so
(`phone_has`), standing for the copy a real phone decrypted; a phone that decrypts its copies can call it
too. It opens the request (its key comes from the media key), uploads the blob again (the media host
republishes the same bytes under a new direct path, whatsapp/testing/media_host.py) and seals the answer.
The crypto is written here from the references, not taken from the client module, so a shared misreading
cannot pass unnoticed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.proto import mms_retry_pb2
from whatsapp.testing.delivery import Delivery, deliver
from whatsapp.testing.dispatch import HandlerContext, Handlers, StanzaHandler
from whatsapp.testing.media_host import MediaHost
from whatsapp.testing.receipts import receipt_ack
from whatsapp.testing.state import Account, Device, ServerState

NOT_ON_PHONE = 2
Result = mms_retry_pb2.MediaRetryNotification.ResultType


def _key(media_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"WhatsApp Media Retry Notification").derive(media_key)


@dataclass(frozen=True, slots=True)
class KeptMedia:
    media_key: bytes
    file_enc_sha256: bytes


class PhoneMedia:
    """The media each account's phone holds (by message id), and its answers to retry receipts."""

    def __init__(self, state: ServerState, host: MediaHost) -> None:
        self.state = state
        self.host = host
        self._kept: dict[tuple[str, str], KeptMedia] = {}
        self.answered = 0

    def phone_has(self, account: Account, message_id: str, media_key: bytes, file_enc_sha256: bytes) -> None:
        """The phone of `account` has the media of `message_id` (as after decrypting its copy)."""
        self._kept[(account.phone_number, message_id)] = KeptMedia(media_key, file_enc_sha256)

    def install(self, handlers: Handlers) -> None:
        """Take `<receipt type="server-error">` before the receipt routing (installed after messaging)."""
        routed: StanzaHandler | None = handlers.stanza_handlers.get("receipt")

        async def receipt(context: HandlerContext, node: Node) -> None:
            if node.attr_str("type") == "server-error" and context.device is not None:
                await context.connection.send_node(receipt_ack(node))
                await self.answer(context.device, node)
            elif routed is not None:
                await routed(context, node)

        handlers.stanza("receipt")(receipt)

    async def answer(self, device: Device, node: Node) -> None:
        reply = self.reply_for(device, node)
        if reply is not None:
            self.answered += 1
            await deliver([Delivery(device, reply)])

    def reply_for(self, device: Device, node: Node) -> Node | None:
        message_id = node.attr_str("id") or ""
        rmr = node.child("rmr")
        to = node.try_attr_jid("to")
        account = self.state.account_for(to.to_non_ad()) if to is not None and to.is_user else None
        if not message_id or rmr is None or account is not device.account:
            logger.info("emulator: server-error receipt {} not for the sender's own phone; dropped", message_id)
            self.state.emit("media_retry", device=device, data={"id": message_id, "result": "dropped"})
            return None
        attrs: dict[str, AttrValue] = {"id": message_id, "type": "mediaretry", "from": account.jid,
                                       "t": str(int(time.time()))}
        rmr_copy = Node("rmr", dict(rmr.attrs))
        kept = self._kept.get((account.phone_number, message_id))
        if kept is None:
            self.state.emit("media_retry", device=device, data={"id": message_id, "result": "not on phone"})
            return Node("notification", attrs, [rmr_copy, Node("error", {"code": str(NOT_ON_PHONE)})])
        result, direct_path = self._reupload(kept, node, message_id)
        notification = mms_retry_pb2.MediaRetryNotification(stanzaID=message_id, result=result)
        if direct_path:
            notification.directPath = direct_path
        iv = os.urandom(12)
        sealed = AESGCM(_key(kept.media_key)).encrypt(iv, notification.SerializeToString(), message_id.encode())
        self.state.emit("media_retry", device=device, data={"id": message_id, "result": Result.Name(result),
                                                            "direct_path": direct_path})
        logger.info("emulator: phone {} answered the media retry of {}: {}", account.phone_number, message_id,
                    Result.Name(result))
        return Node("notification", attrs, [
            rmr_copy, Node("encrypt", {}, [Node("enc_p", {}, sealed), Node("enc_iv", {}, iv)]),
        ])

    def _reupload(self, kept: KeptMedia, node: Node, message_id: str) -> tuple[Result, str | None]:
        encrypt = node.child("encrypt")
        sealed = encrypt.child("enc_p") if encrypt is not None else None
        iv = encrypt.child("enc_iv") if encrypt is not None else None
        if sealed is None or iv is None or not sealed.content_bytes or not iv.content_bytes:
            return Result.DECRYPTION_ERROR, None
        try:
            plaintext = AESGCM(_key(kept.media_key)).decrypt(iv.content_bytes, sealed.content_bytes,
                                                             message_id.encode())
            request = mms_retry_pb2.ServerErrorReceipt.FromString(plaintext)
        except (InvalidTag, ProtobufDecodeError, ValueError):
            return Result.DECRYPTION_ERROR, None
        if request.stanzaID != message_id:
            return Result.DECRYPTION_ERROR, None
        direct_path = self.host.republish(kept.file_enc_sha256)
        return (Result.SUCCESS, direct_path) if direct_path else (Result.NOT_FOUND, None)
