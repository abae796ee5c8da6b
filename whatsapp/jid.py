"""WhatsApp JIDs (Jabber IDs): who or what a stanza is addressed to.

A JID is `user[_agent][:device]@server`. The string form printed here is the one Baileys 7 prints and
parses (agent after `_`), so a `str(jid)` fed back through the codec's Baileys-compatible string
detection encodes to the same bytes as the JID itself. whatsmeow's `user.agent:device@server` form is
also accepted by `JID.parse`.

The "domain type" is the byte an AD_JID carries in front of the device: 0 for phone-number users
(`s.whatsapp.net`), 1 for `lid`, 128 for `hosted`, 129 for `hosted.lid`; for any other server the raw
agent stands in that place (Baileys 7 semantics; Baileys 6 wrongly wrote 0 for hosted, see
docs/protocol.md §Client quirks).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from whatsapp.errors import DecodeError, EncodeError

S_WHATSAPP_NET = "s.whatsapp.net"
LEGACY_USER = "c.us"
LID = "lid"
GROUP = "g.us"
BROADCAST = "broadcast"
NEWSLETTER = "newsletter"
HOSTED = "hosted"
HOSTED_LID = "hosted.lid"
MESSENGER = "msgr"
INTEROP = "interop"
BOT = "bot"

KNOWN_SERVERS = frozenset(
    {S_WHATSAPP_NET, LEGACY_USER, LID, GROUP, BROADCAST, NEWSLETTER, HOSTED, HOSTED_LID, MESSENGER, INTEROP, BOT}
)

# AD_JID domain types.
DOMAIN_WHATSAPP = 0
DOMAIN_LID = 1
DOMAIN_HOSTED = 128
DOMAIN_HOSTED_LID = 129

SERVER_FOR_DOMAIN: dict[int, str] = {
    DOMAIN_WHATSAPP: S_WHATSAPP_NET,
    DOMAIN_LID: LID,
    DOMAIN_HOSTED: HOSTED,
    DOMAIN_HOSTED_LID: HOSTED_LID,
}
DOMAIN_FOR_SERVER: dict[str, int] = {LID: DOMAIN_LID, HOSTED: DOMAIN_HOSTED, HOSTED_LID: DOMAIN_HOSTED_LID}

# Servers whose users have devices (the agent may be written whatsmeow-style after a dot for these).
_DEVICE_SERVERS = frozenset({S_WHATSAPP_NET, LEGACY_USER, LID, HOSTED, HOSTED_LID})
_SERVER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*")
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
_BOT_USER_RE = re.compile(r"1313555\d{4}|131655500\d{2}")

HOSTED_DEVICE = 99


@dataclass(frozen=True, slots=True)
class SignalAddress:
    """A libsignal protocol address: the storage key of a Signal session or identity."""

    name: str
    device: int

    def __str__(self) -> str:
        # libsignal-node's ProtocolAddress.toString(), which Baileys uses as its key-store id.
        return f"{self.name}.{self.device}"

    @classmethod
    def parse(cls, text: str) -> SignalAddress:
        name, sep, device = text.rpartition(".")
        if not sep or not name or not _DIGITS_RE.fullmatch(device):
            raise DecodeError(f"not a signal address: {text!r}")
        return cls(name, int(device))


@dataclass(frozen=True, slots=True)
class JID:
    """A WhatsApp address. `device` 0 is the primary device (and "no device" on non-user servers)."""

    user: str
    server: str
    device: int = 0
    agent: int = 0
    integrator: int = 0

    SERVERS: ClassVar[frozenset[str]] = KNOWN_SERVERS

    # -- parsing / printing -------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> JID:
        """Parse `user[_agent|.agent][:device]@server` (also `{integrator}-user:device@interop`).

        A bare known server name (`s.whatsapp.net`) is the server's own JID, as in whatsmeow.
        """
        if not isinstance(text, str):
            raise DecodeError(f"JID must be a str, not {type(text).__name__}")
        user, at, server = text.partition("@")
        if not at:
            if text in KNOWN_SERVERS:
                return cls("", text)
            raise DecodeError(f"not a JID (no '@'): {text!r}")
        if not _SERVER_RE.fullmatch(server):
            raise DecodeError(f"invalid JID server in {text!r}")
        device = agent = integrator = 0
        if ":" in user:
            user, _, device_text = user.partition(":")
            if not _DIGITS_RE.fullmatch(device_text):
                raise DecodeError(f"invalid JID device in {text!r}")
            device = int(device_text)
            if device > 0xFFFF:
                raise DecodeError(f"JID device out of range in {text!r}")
        if "_" in user:
            user, _, agent_text = user.partition("_")
            if not _DIGITS_RE.fullmatch(agent_text):
                raise DecodeError(f"invalid JID agent in {text!r}")
            agent = int(agent_text)
        elif "." in user and server in _DEVICE_SERVERS:
            head, _, agent_text = user.rpartition(".")
            if _DIGITS_RE.fullmatch(agent_text):
                user, agent = head, int(agent_text)
        if agent > 0xFF:
            raise DecodeError(f"JID agent out of range in {text!r}")
        if server == INTEROP:
            integrator_text, dash, rest = user.partition("-")
            if dash and _DIGITS_RE.fullmatch(integrator_text):
                integrator, user = int(integrator_text), rest
                if integrator > 0xFFFF:
                    raise DecodeError(f"JID integrator out of range in {text!r}")
        if "@" in user or any(c in user for c in " \t\r\n"):
            raise DecodeError(f"invalid JID user in {text!r}")
        return cls(user, server, device, agent, integrator)

    @classmethod
    def try_parse(cls, text: str) -> JID | None:
        try:
            return cls.parse(text)
        except DecodeError:
            return None

    def __str__(self) -> str:
        text = self.user
        if self.integrator:
            text = f"{self.integrator}-{text}"
        if self.agent:
            text = f"{text}_{self.agent}"
        if self.device:
            text = f"{text}:{self.device}"
        return f"{text}@{self.server}"

    def __repr__(self) -> str:
        return f"JID({str(self)!r})"

    # -- derived forms ----------------------------------------------------------------------------------

    def to_non_ad(self) -> JID:
        """The same account without agent and device (the "user JID")."""
        if not self.device and not self.agent:
            return self
        return JID(self.user, self.server, integrator=self.integrator)

    def with_device(self, device: int) -> JID:
        return JID(self.user, self.server, device, self.agent, self.integrator)

    @property
    def domain_type(self) -> int:
        """The AD_JID domain byte: fixed for lid/hosted/hosted.lid, else the raw agent."""
        return DOMAIN_FOR_SERVER.get(self.server, self.agent)

    @property
    def signal_protocol_address(self) -> SignalAddress:
        """The libsignal address of this device, as Baileys 7 derives it (`jidToSignalProtocolAddress`)."""
        if not self.user:
            raise EncodeError(f"JID {self} has no user, so no signal address")
        if self.device == HOSTED_DEVICE and self.server not in (HOSTED, HOSTED_LID):
            raise EncodeError(f"device 99 on the non-hosted JID {self}")
        domain = self.domain_type
        name = self.user if domain == DOMAIN_WHATSAPP else f"{self.user}_{domain}"
        return SignalAddress(name, self.device)

    @property
    def signal_address(self) -> str:
        """`name.device`, the string libsignal-node and Baileys key sessions and identities by."""
        return str(self.signal_protocol_address)

    # -- predicates -------------------------------------------------------------------------------------

    @property
    def is_pn(self) -> bool:
        """A phone-number user (`@s.whatsapp.net`)."""
        return self.server == S_WHATSAPP_NET and bool(self.user)

    @property
    def is_lid(self) -> bool:
        return self.server == LID

    @property
    def is_user(self) -> bool:
        """An individual account on any user server (PN, LID, hosted, legacy c.us)."""
        return self.server in _DEVICE_SERVERS and bool(self.user)

    @property
    def is_group(self) -> bool:
        return self.server == GROUP

    @property
    def is_broadcast(self) -> bool:
        return self.server == BROADCAST

    @property
    def is_status_broadcast(self) -> bool:
        return self.server == BROADCAST and self.user == "status"

    @property
    def is_broadcast_list(self) -> bool:
        return self.server == BROADCAST and self.user != "status"

    @property
    def is_newsletter(self) -> bool:
        return self.server == NEWSLETTER

    @property
    def is_hosted(self) -> bool:
        return self.server in (HOSTED, HOSTED_LID)

    @property
    def is_bot(self) -> bool:
        if self.server == BOT:
            return True
        if self.server not in (S_WHATSAPP_NET, LEGACY_USER) or self.device:
            return False
        return bool(_BOT_USER_RE.fullmatch(self.user))

    @property
    def is_server(self) -> bool:
        """The bare server JID (`@s.whatsapp.net`), the `to` of IQs."""
        return not self.user

    @property
    def is_ad(self) -> bool:
        """Names one specific companion device (device > 0)."""
        return self.device > 0

    def same_user(self, other: JID) -> bool:
        return self.user == other.user and self.server == other.server


SERVER_JID = JID("", S_WHATSAPP_NET)
GROUP_SERVER_JID = JID("", GROUP)
BROADCAST_SERVER_JID = JID("", BROADCAST)
STATUS_BROADCAST_JID = JID("status", BROADCAST)
PSA_JID = JID("0", S_WHATSAPP_NET)
OFFICIAL_BUSINESS_JID = JID("16505361212", LEGACY_USER)
META_AI_JID = JID("13135550002", S_WHATSAPP_NET)
