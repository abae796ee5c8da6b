"""Media encryption: per-type key expansion, encrypt for upload, verify-and-decrypt after download.

See docs/protocol.md §Media keys.

A 32-byte random media key expands with HKDF-SHA256 (no salt, info "WhatsApp <Kind> Keys", 112 bytes) into
iv(16) | cipherKey(32) | macKey(32) | refKey(32). The uploaded body is AES-256-CBC(plaintext) || mac10 where
mac10 = HMAC-SHA256(macKey, iv || ciphertext)[:10]. fileSha256 hashes the plaintext, fileEncSha256 the body.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from whatsapp.cipher import aes_cbc_decrypt, aes_cbc_encrypt, constant_time_equal, hkdf_sha256, hmac_sha256, sha256
from whatsapp.errors import CryptoError

MEDIA_KEY_LENGTH = 32
MAC_LENGTH = 10

# Media type (Baileys' names, which are also the upload path names) -> the <Kind> of the HKDF info string.
MEDIA_HKDF_KINDS: dict[str, str] = {
    "image": "Image",
    "sticker": "Image",
    "product": "Image",
    "biz-cover-photo": "Image",
    "video": "Video",
    "gif": "Video",
    "ptv": "Video",
    "audio": "Audio",
    "ptt": "Audio",
    "document": "Document",
    "md-msg-hist": "History",
    "history": "History",
    "md-app-state": "App State",
    "app-state": "App State",
    "thumbnail-link": "Link Thumbnail",
    "thumbnail-image": "Image Thumbnail",
    "thumbnail-video": "Video Thumbnail",
    "thumbnail-document": "Document Thumbnail",
    "payment-bg-image": "Payment Background",
    "sticker-pack": "Sticker Pack",
}

# Message field -> media type, for picking the keys of a received media message.
MESSAGE_MEDIA_TYPES: dict[str, str] = {
    "imageMessage": "image",
    "stickerMessage": "sticker",
    "videoMessage": "video",
    "ptvMessage": "ptv",
    "audioMessage": "audio",
    "documentMessage": "document",
    "historySyncNotification": "md-msg-hist",
}


def hkdf_info(media_type: str) -> bytes:
    try:
        kind = MEDIA_HKDF_KINDS[media_type]
    except KeyError:
        raise CryptoError(f"unknown media type {media_type!r} (known: {', '.join(sorted(MEDIA_HKDF_KINDS))})") from None
    return f"WhatsApp {kind} Keys".encode()


@dataclass(frozen=True, slots=True)
class MediaKeys:
    iv: bytes
    cipher_key: bytes
    mac_key: bytes
    ref_key: bytes

    def __repr__(self) -> str:
        return "MediaKeys(…)"


def media_keys(media_key: bytes, media_type: str) -> MediaKeys:
    if len(media_key) != MEDIA_KEY_LENGTH:
        raise CryptoError(f"media key must be {MEDIA_KEY_LENGTH} bytes, got {len(media_key)}")
    expanded = hkdf_sha256(media_key, 112, info=hkdf_info(media_type))
    return MediaKeys(iv=expanded[:16], cipher_key=expanded[16:48], mac_key=expanded[48:80], ref_key=expanded[80:112])


@dataclass(frozen=True, slots=True)
class EncryptedMedia:
    media_key: bytes
    body: bytes  # what is uploaded: ciphertext || mac10
    file_sha256: bytes
    file_enc_sha256: bytes
    file_length: int  # of the plaintext

    def __repr__(self) -> str:
        return f"EncryptedMedia(file_length={self.file_length}, body={len(self.body)} bytes)"


def _mac(keys: MediaKeys, ciphertext: bytes) -> bytes:
    return hmac_sha256(keys.mac_key, keys.iv + ciphertext)[:MAC_LENGTH]


def encrypt_media(plaintext: bytes, media_type: str, media_key: bytes | None = None) -> EncryptedMedia:
    media_key = os.urandom(MEDIA_KEY_LENGTH) if media_key is None else media_key
    keys = media_keys(media_key, media_type)
    ciphertext = aes_cbc_encrypt(keys.cipher_key, keys.iv, plaintext)
    body = ciphertext + _mac(keys, ciphertext)
    return EncryptedMedia(
        media_key=media_key,
        body=body,
        file_sha256=sha256(plaintext),
        file_enc_sha256=sha256(body),
        file_length=len(plaintext),
    )


def decrypt_media(
    body: bytes,
    media_key: bytes,
    media_type: str,
    *,
    file_enc_sha256: bytes | None = None,
    file_sha256: bytes | None = None,
) -> bytes:
    """Verify and decrypt a downloaded body; each failed check raises CryptoError naming it.

    Order: the body's hash (when the message gave one), the 10-byte MAC, decryption, the plaintext's hash.
    """
    if file_enc_sha256 is not None and not constant_time_equal(sha256(body), file_enc_sha256):
        raise CryptoError("media body does not match fileEncSha256 (corrupt or wrong download)")
    if len(body) < MAC_LENGTH + 16:
        raise CryptoError(f"media body of {len(body)} bytes is too short for one AES block and a MAC")
    keys = media_keys(media_key, media_type)
    ciphertext, mac = body[:-MAC_LENGTH], body[-MAC_LENGTH:]
    if not constant_time_equal(_mac(keys, ciphertext), mac):
        raise CryptoError("media MAC mismatch (wrong media key or type, or tampered body)")
    plaintext = aes_cbc_decrypt(keys.cipher_key, keys.iv, ciphertext)
    if file_sha256 is not None and not constant_time_equal(sha256(plaintext), file_sha256):
        raise CryptoError("decrypted media does not match fileSha256")
    return plaintext
