"""Media the host no longer has (404/410): ask our phone to upload it again (whatsmeow `mediaretry.go`,
Baileys `src/Utils/messages-media.ts` encryptMediaRetryRequest / decodeMediaRetryNode; docs/protocol.md
§Media transfer).

The request is a receipt to our own account (the phone has the message, hence the media):

    <receipt id=<message id> to=<our PN user> type="server-error">
      <encrypt><enc_p>AES-GCM(ServerErrorReceipt{stanzaID})</enc_p><enc_iv>12 bytes</enc_iv></encrypt>
      <rmr jid=<chat> from_me="true|false" [participant=<sender>]/>
    </receipt>

and the phone answers with `<notification type="mediaretry" id=<message id>>` holding the same `<rmr>`
and either `<encrypt>` (a sealed MediaRetryNotification{stanzaID, directPath, result}) or `<error code>`
(2: the phone does not have it). The key is HKDF-SHA256(mediaKey, info "WhatsApp Media Retry
Notification", 32 bytes); the associated data is the message id. The functions are pure; `MediaRetries`
sends the receipt and waits for the matching notification.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError
from loguru import logger

from whatsapp.binary import Node
from whatsapp.cipher import aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256
from whatsapp.context import Context
from whatsapp.errors import CryptoError, MediaRetryError, ProtocolError
from whatsapp.jid import JID
from whatsapp.proto import mms_retry_pb2
from whatsapp.router import Route, StanzaRouter

RETRY_INFO = b"WhatsApp Media Retry Notification"
NOT_ON_PHONE = 2  # <error code="2">: whatsmeow ErrMediaNotAvailableOnPhone
Result = mms_retry_pb2.MediaRetryNotification.ResultType


def retry_key(media_key: bytes) -> bytes:
    return hkdf_sha256(media_key, 32, info=RETRY_INFO)


@dataclass(frozen=True, slots=True)
class RetryTarget:
    """The message whose media is asked for: its id, chat, whether we sent it, and its author in a group."""

    message_id: str
    chat: JID
    from_me: bool
    participant: JID | None = None


def retry_receipt(target: RetryTarget, media_key: bytes, me: JID, iv: bytes | None = None) -> Node:
    iv = iv or os.urandom(12)
    plaintext = mms_retry_pb2.ServerErrorReceipt(stanzaID=target.message_id).SerializeToString()
    sealed = aes_gcm_encrypt(retry_key(media_key), iv, plaintext, target.message_id.encode())
    rmr: dict[str, str | JID] = {"jid": target.chat.to_non_ad(), "from_me": "true" if target.from_me else "false"}
    if target.participant is not None:
        rmr["participant"] = target.participant.to_non_ad()
    return Node("receipt", {"id": target.message_id, "to": me.to_non_ad(), "type": "server-error"}, [
        Node("encrypt", {}, [Node("enc_p", {}, sealed), Node("enc_iv", {}, iv)]),
        Node("rmr", rmr),
    ])


@dataclass(frozen=True, slots=True)
class RetryAnswer:
    """A `mediaretry` notification: sealed (`ciphertext`, `iv`) or an error code."""

    message_id: str
    chat: str | None
    from_me: bool
    ciphertext: bytes | None = None
    iv: bytes | None = None
    error_code: int | None = None


def parse_retry_notification(node: Node) -> RetryAnswer:
    message_id = node.attr_str("id")
    rmr = node.child("rmr")
    if not message_id or rmr is None:
        raise ProtocolError("mediaretry notification without id or <rmr>")
    base = (message_id, rmr.attr_str("jid"), rmr.attr_str("from_me") == "true")
    error = node.child("error")
    if error is not None:
        code = error.attr_str("code")
        return RetryAnswer(*base, error_code=int(code) if code and code.isdigit() else -1)
    encrypt = node.child("encrypt")
    sealed = encrypt.child("enc_p") if encrypt is not None else None
    iv = encrypt.child("enc_iv") if encrypt is not None else None
    if sealed is None or iv is None or not sealed.content_bytes or not iv.content_bytes:
        raise ProtocolError(f"mediaretry notification for {message_id} has neither <encrypt> nor <error>")
    return RetryAnswer(*base, ciphertext=sealed.content_bytes, iv=iv.content_bytes)


def open_retry_answer(answer: RetryAnswer, media_key: bytes) -> str:
    """The new direct path; MediaRetryError when the phone could not, or the answer does not open."""
    if answer.error_code is not None:
        detail = "the phone no longer has it" if answer.error_code == NOT_ON_PHONE else "the phone refused"
        raise MediaRetryError(f"media of {answer.message_id} not uploaded again: {detail} "
                              f"(error {answer.error_code})", answer.error_code)
    assert answer.ciphertext is not None and answer.iv is not None
    try:
        plaintext = aes_gcm_decrypt(retry_key(media_key), answer.iv, answer.ciphertext, answer.message_id.encode())
        notification = mms_retry_pb2.MediaRetryNotification.FromString(plaintext)
    except (CryptoError, ProtobufDecodeError) as exc:
        raise MediaRetryError(f"the phone's answer for {answer.message_id} does not open: {exc}") from None
    if notification.result != Result.SUCCESS or not notification.directPath:
        name = Result.Name(notification.result) if notification.result in Result.values() else notification.result
        raise MediaRetryError(f"media of {answer.message_id} not uploaded again: {name}", int(notification.result))
    if notification.stanzaID and notification.stanzaID != answer.message_id:
        raise MediaRetryError(f"the phone answered for {notification.stanzaID}, not {answer.message_id}")
    return notification.directPath


class MediaRetries:
    """Sends media-retry receipts and hands each `mediaretry` notification to the requests waiting for it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._waiting: dict[str, list[asyncio.Future[RetryAnswer]]] = {}
        self.requests = 0

    def install(self, router: StanzaRouter) -> None:
        router.add(Route("notification", self.on_notification, type="mediaretry"))

    async def on_notification(self, node: Node) -> None:
        try:
            answer = parse_retry_notification(node)
        except ProtocolError as exc:
            logger.warning("unreadable mediaretry notification: {}", exc)
            return
        waiters = self._waiting.pop(answer.message_id, [])
        if not waiters:
            logger.debug("mediaretry notification for {} nobody waits for", answer.message_id)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(answer)

    async def request(self, target: RetryTarget, media_key: bytes, timeout: float) -> str:
        """Ask the phone for the media of `target`; the new direct path, or MediaRetryError."""
        me = self.ctx.me_id
        if me is None:
            raise MediaRetryError("not logged in")
        waiter: asyncio.Future[RetryAnswer] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(target.message_id, []).append(waiter)
        self.requests += 1
        try:
            await self.ctx.send(retry_receipt(target, media_key, JID.parse(me)))
            logger.info("media of {} expired on the host; asked the phone to upload it again", target.message_id)
            try:
                answer = await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                raise MediaRetryError(f"the phone did not upload the media of {target.message_id} "
                                      f"within {timeout:.0f}s") from None
        finally:
            waiters = self._waiting.get(target.message_id)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._waiting[target.message_id]
        return open_retry_answer(answer, media_key)
