"""The Signal protocol as WhatsApp uses it (libsignal v3 "Whisper" wire format), sans-I/O.

1:1 sessions live in `whatsapp.signal.session`, sender keys in `whatsapp.signal.group`, the stored
records in `whatsapp.signal.records`. Every function takes records and bytes and returns new records:
load, call, persist the result in the same auth-state transaction.
"""

from whatsapp.signal.group import (
    SenderKeyDistribution,
    create_sender_key,
    distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from whatsapp.signal.records import SenderKeyRecord, SenderKeyState, SessionRecord, SessionState
from whatsapp.signal.session import (
    DecryptResult,
    EncryptedMessage,
    LocalIdentity,
    PreKeyBundle,
    PreKeyMessage,
    SessionBuildResult,
    WhisperMessage,
    build_session_from_bundle,
    decrypt_message,
    decrypt_prekey_message,
    encrypt_message,
)

__all__ = [
    "DecryptResult",
    "EncryptedMessage",
    "LocalIdentity",
    "PreKeyBundle",
    "PreKeyMessage",
    "SenderKeyDistribution",
    "SenderKeyRecord",
    "SenderKeyState",
    "SessionBuildResult",
    "SessionRecord",
    "SessionState",
    "WhisperMessage",
    "build_session_from_bundle",
    "create_sender_key",
    "decrypt_message",
    "decrypt_prekey_message",
    "distribution_message",
    "encrypt_message",
    "group_decrypt",
    "group_encrypt",
    "process_distribution_message",
]
