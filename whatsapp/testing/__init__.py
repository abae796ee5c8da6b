"""An emulated WhatsApp server, faithful enough for real clients (Baileys, ours) to pair, log in and exchange
end-to-end encrypted messages through it, offline. It never decrypts end-to-end content.

    from whatsapp.testing import EmulatedServer

    async with EmulatedServer() as server:
        account = server.create_account("15550001111")
        ...  # client connects to server.url trusting server.root_public_key
        device = await account.phone.scan_qr(qr)
"""

from whatsapp.testing.connection import ClientConnection, ConnectionDropped
from whatsapp.testing.dispatch import HandlerContext, Handlers, IQError
from whatsapp.testing.faults import Faults
from whatsapp.testing.phone import LinkCodeSession, PrimaryPhone
from whatsapp.testing.server import EmulatedServer, QRTimings, iq_error, iq_result
from whatsapp.testing.state import (
    Account,
    Device,
    EventLog,
    Group,
    GroupParticipant,
    PreKey,
    ServerEvent,
    ServerState,
    SignedPreKey,
)

__all__ = [
    "Account",
    "ClientConnection",
    "ConnectionDropped",
    "Device",
    "EmulatedServer",
    "EventLog",
    "Faults",
    "Group",
    "GroupParticipant",
    "HandlerContext",
    "Handlers",
    "IQError",
    "LinkCodeSession",
    "PreKey",
    "PrimaryPhone",
    "QRTimings",
    "ServerEvent",
    "ServerState",
    "SignedPreKey",
    "iq_error",
    "iq_result",
]
