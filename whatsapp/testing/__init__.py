"""An emulated WhatsApp server, faithful enough for real clients (Baileys, ours) to pair, log in and exchange
end-to-end encrypted messages through it, offline. The server never decrypts end-to-end content; the
simulated phone, a device like any other, decrypts and checks the copies addressed to it.

It is strict where the real server is strict: what it does not model is answered as WhatsApp answers it
(an unknown IQ gets 501) and reported as an "unmodelled" server event, which fails the test suite's
tests (strict.py). Its server roles — the Noise responder, the certificate authority, the phone's ADV,
pairing-code and QR side, the ClientPayload parser — are written independently of the client's modules
(noise_responder.py, certauthority.py, phone_adv.py, phone_link_code.py, client_payload.py), so a
misreading shared by both would not pass.

    from whatsapp.testing import EmulatedServer

    async with EmulatedServer() as server:
        account = server.create_account("15550001111")
        ...  # client connects to server.url trusting server.root_public_key
        device = await account.phone.scan_qr(qr)

The layers, bottom up (a module imports only from the layers below it, so there are no circles):
errors and settings; the server roles (noise_responder, certauthority, client_payload, phone_adv,
phone_link_code); records (accounts, devices, the Connection and Phone interfaces); connection;
events, strict and state; the sans-I/O routing modules (delivery, coverage, usync, bundles, receipts,
groups, routing); dispatch (the handler table); the concern modules (account_iqs, pairing, login,
prekeys, upkeep, messaging, faults); phone_inbox and phone; server.
"""

from whatsapp.testing.connection import ClientConnection, Registration
from whatsapp.testing.dispatch import HandlerContext, Handlers, iq_error, iq_result
from whatsapp.testing.errors import (
    ConnectionDropped,
    EmulatorError,
    EventTimeout,
    InvalidAccount,
    IQError,
    QueryTimeout,
    UnknownTarget,
)
from whatsapp.testing.events import EventLog, ServerEvent
from whatsapp.testing.faults import Faults
from whatsapp.testing.pairing import LinkCodeSession
from whatsapp.testing.phone import PrimaryPhone
from whatsapp.testing.server import EmulatedServer
from whatsapp.testing.settings import QRTimings, ServerSettings
from whatsapp.testing.state import (
    Account,
    Device,
    Group,
    GroupParticipant,
    PhoneKeys,
    PreKey,
    ServerState,
    SignedPreKey,
)

__all__ = [
    "Account",
    "ClientConnection",
    "ConnectionDropped",
    "Device",
    "EmulatedServer",
    "EmulatorError",
    "EventLog",
    "EventTimeout",
    "Faults",
    "Group",
    "GroupParticipant",
    "HandlerContext",
    "Handlers",
    "IQError",
    "InvalidAccount",
    "LinkCodeSession",
    "PhoneKeys",
    "PreKey",
    "PrimaryPhone",
    "QRTimings",
    "QueryTimeout",
    "Registration",
    "ServerEvent",
    "ServerSettings",
    "ServerState",
    "SignedPreKey",
    "UnknownTarget",
    "iq_error",
    "iq_result",
]
