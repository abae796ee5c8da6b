"""Linking a new companion device: pure functions and state machines over nodes and credentials (no I/O).

- `pair-device` (QR refs) → the ack to send, the refs, and the QR rotation (`QrRotation`).
- Pairing code: the `companion_hello` IQ, then the `link_code_companion_reg` notification → the
  `companion_finish` IQ and the adv secret that replaces the install-time one.
- `pair-success` → verified for real (`whatsapp.adv`: HMAC with the adv secret and the account
  signature); a forged one yields the error reply and never any credentials; a genuine one yields
  the new credentials, the keys to store with them, and the `pair-device-sign` reply.

`PairingSession` holds one connection's pairing state and says which step may follow which; the
asyncio side (sending, timers, events) is whatsapp/pairing_flow.py. Shapes as whatsmeow `pair.go`,
`pair-code.go` and Baileys `src/Socket/socket.ts` (requestPairingCode) / `src/Utils/validate-connection.ts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum

from whatsapp import adv
from whatsapp.addressing import mapping_records
from whatsapp.auth import KeyType
from whatsapp.binary import Node
from whatsapp.binary.node import AttrValue
from whatsapp.creds import Credentials
from whatsapp.errors import DecodeError, PairingError, PairRejected
from whatsapp.jid import JID, SERVER_JID
from whatsapp.keys import prefixed
from whatsapp.pair_code import CompanionFinish, CompanionHello, companion_finish

FIRST_QR_TIMEOUT = 60.0
NEXT_QR_TIMEOUT = 20.0


def qr_schedule(ref_count: int, first: float = FIRST_QR_TIMEOUT, following: float = NEXT_QR_TIMEOUT) -> list[float]:
    """How long each ref is shown: the first for 60 s, each following one for 20 s (WA Web's rhythm)."""
    return [first if index == 0 else following for index in range(ref_count)]


def result_iq(request: Node, content: list[Node] | None = None) -> Node:
    """`<iq type="result" id=.. to=s.whatsapp.net>` answering a server request."""
    attrs: dict[str, AttrValue] = {"to": SERVER_JID, "type": "result", "id": request.attr_str("id", "") or ""}
    return Node("iq", attrs, content)


def error_iq(request: Node, code: int, text: str) -> Node:
    return Node(
        "iq",
        {"to": SERVER_JID, "type": "error", "id": request.attr_str("id", "") or ""},
        [Node("error", {"code": str(code), "text": text})],
    )


def parse_pair_device(node: Node) -> list[bytes]:
    """The refs of `<iq type=set><pair-device><ref>…</ref>×N</pair-device></iq>`."""
    pair_device = node.child("pair-device")
    if pair_device is None:
        raise DecodeError("iq has no <pair-device>")
    refs = [ref.content_bytes for ref in pair_device.children_by_tag("ref")]
    found = [ref for ref in refs if ref]
    if not found:
        raise DecodeError("<pair-device> carries no refs")
    return found


@dataclass(frozen=True, slots=True)
class QrShow:
    """Show the QR of `ref` for `timeout` seconds (it replaces the previous one)."""

    ref: bytes = field(repr=False)
    index: int
    total: int
    timeout: float


class QrRotation:
    """The refs of one `pair-device`, shown one after the other; `next()` is None once all are used up."""

    def __init__(self, refs: list[bytes], first: float = FIRST_QR_TIMEOUT, following: float = NEXT_QR_TIMEOUT) -> None:
        self._refs = list(refs)
        self._schedule = qr_schedule(len(refs), first, following)
        self._position = 0

    def next(self) -> QrShow | None:
        if self._position >= len(self._refs):
            return None
        index = self._position
        self._position += 1
        return QrShow(self._refs[index], index, len(self._refs), self._schedule[index])

    @property
    def exhausted(self) -> bool:
        return self._position >= len(self._refs)


# ---- pairing code ---------------------------------------------------------------------------------------


def companion_hello_iq(
    iq_id: str, phone_number: str, hello: CompanionHello, creds: Credentials, platform_id: str, platform_display: str
) -> Node:
    return Node(
        "iq",
        {"to": SERVER_JID, "type": "set", "id": iq_id, "xmlns": "md"},
        [
            Node(
                "link_code_companion_reg",
                {
                    "jid": JID(phone_number, "s.whatsapp.net"),
                    "stage": "companion_hello",
                    "should_show_push_notification": "true",
                },
                [
                    Node("link_code_pairing_wrapped_companion_ephemeral_pub", {}, hello.wrapped_ephemeral),
                    Node("companion_server_auth_key_pub", {}, creds.noise_key.public),
                    Node("companion_platform_id", {}, platform_id.encode()),
                    Node("companion_platform_display", {}, platform_display.encode()),
                    Node("link_code_pairing_nonce", {}, b"0"),
                ],
            )
        ],
    )


def pairing_ref_from_hello_result(node: Node) -> bytes:
    reg = node.child("link_code_companion_reg")
    ref = reg.child("link_code_pairing_ref") if reg is not None else None
    value = ref.content_bytes if ref is not None else None
    if not value:
        raise PairingError("companion_hello answer carries no link_code_pairing_ref")
    return value


@dataclass(frozen=True, slots=True)
class CodePairingStep:
    finish_iq: Node
    adv_secret: bytes  # the new Credentials.adv_secret_key: pair-success's HMAC is keyed with it

    def __repr__(self) -> str:
        return "CodePairingStep(…)"


def handle_link_code_notification(
    notification: Node,
    hello: CompanionHello,
    pairing_ref: bytes | None,
    creds: Credentials,
    phone_number: str,
    iq_id: str,
) -> CodePairingStep:
    """The phone accepted our code: build `companion_finish` and derive the new adv secret."""
    reg = notification.child("link_code_companion_reg")
    if reg is None:
        raise PairingError("link_code_companion_reg notification without <link_code_companion_reg>")

    def field(tag: str) -> bytes:
        child = reg.child(tag)
        value = child.content_bytes if child is not None else None
        if not value:
            raise PairingError(f"link_code_companion_reg notification lacks <{tag}>")
        return value

    ref = field("link_code_pairing_ref")
    if pairing_ref is not None and ref != pairing_ref:
        raise PairingError("link_code_companion_reg notification is for another pairing attempt")
    finish: CompanionFinish = companion_finish(
        hello,
        creds.identity_key,
        field("link_code_pairing_wrapped_primary_ephemeral_pub"),
        field("primary_identity_pub"),
    )
    iq = Node(
        "iq",
        {"to": SERVER_JID, "type": "set", "id": iq_id, "xmlns": "md"},
        [
            Node(
                "link_code_companion_reg",
                {"jid": JID(phone_number, "s.whatsapp.net"), "stage": "companion_finish"},
                [
                    Node("link_code_pairing_wrapped_key_bundle", {}, finish.wrapped_key_bundle),
                    Node("companion_identity_public", {}, finish.companion_identity_public),
                    Node("link_code_pairing_ref", {}, ref),
                ],
            )
        ],
    )
    return CodePairingStep(iq, finish.adv_secret)


# ---- pair-success ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairOutcome:
    """A verified pair-success: store `creds` and `keys` in ONE transaction, then send `reply`."""

    creds: Credentials
    keys: list[tuple[KeyType, str, bytes]] = field(repr=False)  # raw key material
    reply: Node
    platform: str | None
    business_name: str | None


def handle_pair_success(node: Node, creds: Credentials) -> PairOutcome:
    """Verify `<iq><pair-success>` against our credentials; raise PairRejected when forged."""
    success = node.child("pair-success")
    if success is None:
        raise PairRejected("iq has no <pair-success>", error_iq(node, 400, "bad-request"))
    identity_node = success.child("device-identity")
    device = success.child("device")
    container = identity_node.content_bytes if identity_node is not None else None
    me_jid = device.attr_jid("jid") if device is not None else None
    if not container or device is None or me_jid is None:
        raise PairRejected("pair-success lacks device-identity or device jid", error_iq(node, 400, "bad-request"))
    lid_jid = device.attr_jid("lid")
    platform_node = success.child("platform")
    platform = platform_node.attr_str("name") if platform_node is not None else None
    biz_node = success.child("biz")
    business_name = biz_node.attr_str("name") if biz_node is not None else None

    try:
        verified = adv.verify_pair_success(container, creds.adv_secret_key, creds.identity_key)
    except adv.ADVVerificationError as exc:
        raise PairRejected(f"pair-success rejected: {exc}", error_iq(node, exc.error_code, exc.error_text)) from None

    reply = result_iq(
        node,
        [
            Node(
                "pair-device-sign",
                {},
                [Node("device-identity", {"key-index": str(verified.key_index)}, verified.reply_identity)],
            )
        ],
    )
    new_creds = dataclasses.replace(
        creds,
        me_id=str(me_jid),
        me_lid=str(lid_jid) if lid_jid is not None else None,
        account=verified.account,
        platform=platform,
        business_name=business_name,
    )
    keys: list[tuple[KeyType, str, bytes]] = []
    account_key = prefixed(verified.account_signature_key)
    # The primary device's identity is trusted from the signed pairing, not learned later.
    keys.append((KeyType.IDENTITY, JID(me_jid.user, me_jid.server).signal_address, account_key))
    if lid_jid is not None:
        keys.append((KeyType.IDENTITY, JID(lid_jid.user, lid_jid.server).signal_address, account_key))
        keys.extend(mapping_records(me_jid.user, lid_jid.user))
    return PairOutcome(new_creds, keys, reply, platform, business_name)


# ---- one connection's pairing ---------------------------------------------------------------------------


class PairingStep(StrEnum):
    IDLE = "idle"  # nothing asked yet (or a logged-in connection)
    SHOWING_QR = "showing_qr"  # refs received; QRs rotate until a scan or until they run out
    CODE_REQUESTED = "code_requested"  # companion_hello sent, waiting for the server's ref
    CODE_SHOWN = "code_shown"  # the code is on screen; waiting for the phone
    CODE_CONFIRMED = "code_confirmed"  # the phone accepted the code; companion_finish sent
    PAIRED = "paired"  # a verified pair-success was stored; the 515 restart follows


class PairingSession:
    """The pairing state of one connection (a new connection starts a new session). No I/O.

    QR and pairing code run side by side (the server sends refs either way; with a phone number the
    QRs are not shown). Each method checks that its step may come now and returns what to send.
    """

    def __init__(self) -> None:
        self.step = PairingStep.IDLE
        self.rotation: QrRotation | None = None
        self.hello: CompanionHello | None = None
        self.ref: bytes | None = None
        self.adv_secret: bytes | None = None  # from the pairing-code exchange; keys pair-success's HMAC

    def on_pair_device(self, node: Node, first: float, following: float) -> tuple[Node, QrRotation]:
        """The server's refs: the result to send and the new rotation (it replaces any earlier one)."""
        refs = parse_pair_device(node)
        self.rotation = QrRotation(refs, first, following)
        if self.step is PairingStep.IDLE:
            self.step = PairingStep.SHOWING_QR
        return result_iq(node), self.rotation

    def code_requested(self, hello: CompanionHello) -> None:
        self._expect_not(PairingStep.PAIRED, "a pairing code request")
        self.hello = hello
        self.step = PairingStep.CODE_REQUESTED

    def on_hello_answer(self, answer: Node) -> str:
        """The answer to companion_hello: the code to show."""
        if self.step is not PairingStep.CODE_REQUESTED or self.hello is None:
            raise PairingError(f"companion_hello answer while {self.step.value}")
        self.ref = pairing_ref_from_hello_result(answer)
        self.step = PairingStep.CODE_SHOWN
        return self.hello.code

    def on_link_code(self, notification: Node, creds: Credentials, phone_number: str, iq_id: str) -> CodePairingStep:
        """The phone accepted our code: the companion_finish IQ (and the new adv secret, kept here)."""
        if self.hello is None or self.step not in (PairingStep.CODE_REQUESTED, PairingStep.CODE_SHOWN):
            raise PairingError(f"link_code_companion_reg notification while {self.step.value}")
        step = handle_link_code_notification(notification, self.hello, self.ref, creds, phone_number, iq_id)
        self.adv_secret = step.adv_secret
        self.step = PairingStep.CODE_CONFIRMED
        return step

    def on_pair_success(self, node: Node, creds: Credentials) -> PairOutcome:
        """Verify pair-success (with the code's adv secret when the code was used); PairRejected when forged."""
        self._expect_not(PairingStep.PAIRED, "a second pair-success")
        if self.adv_secret is not None:
            creds = dataclasses.replace(creds, adv_secret_key=self.adv_secret)
        outcome = handle_pair_success(node, creds)
        self.step = PairingStep.PAIRED
        self.rotation = None
        return outcome

    def _expect_not(self, step: PairingStep, what: str) -> None:
        if self.step is step:
            raise PairingError(f"{what} while {self.step.value}")
