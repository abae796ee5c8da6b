"""Streaming media encryption and verification: plain classes over chunks, no I/O (docs/protocol.md §Media keys).

`whatsapp.media` does the same for whole byte strings; these do it chunk by chunk, so a 100 MB document is
encrypted while it is uploaded and decrypted while it is downloaded, in bounded memory:

    enc = MediaEncryptor("document")
    body = b"".join([enc.update(chunk) for chunk in chunks] + [enc.finish()])
    enc.file_sha256, enc.file_enc_sha256, enc.file_length, enc.media_key

    dec = MediaDecryptor(media_key, "document", file_enc_sha256=..., file_sha256=...)
    parts = [dec.update(chunk) for chunk in body_chunks] + [dec.finish()]

The decryptor hands out plaintext before the end of the body, but that plaintext is NOT authenticated
until `finish()` returns: it checks the 10-byte MAC, the body's SHA-256, the padding and the plaintext's
SHA-256, in that order, and raises `MediaIntegrityError` naming the first check that failed (a damaged
body fails the MAC; a good MAC with another hash means the message's fileEncSha256 is wrong). Callers keep what
`update` gave them aside (a `.part` file, a buffer) and release it only after `finish()` (whatsapp/download.py).
Since the IV comes from the media key, encrypting the same plaintext with the same key gives the same body:
the upload hashes in a first pass and encrypts again while sending (whatsapp/upload.py).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from whatsapp.errors import MediaIntegrityError
from whatsapp.media import MAC_LENGTH, MEDIA_KEY_LENGTH, media_keys

BLOCK = 16


def body_length(plaintext_length: int) -> int:
    """Bytes uploaded for a plaintext of this length: PKCS#7 always adds 1..16 bytes, then the MAC."""
    return (plaintext_length // BLOCK + 1) * BLOCK + MAC_LENGTH


class MediaEncryptor:
    """AES-256-CBC + HMAC-SHA256[:10] over chunks; the hashes and length are ready after `finish()`."""

    def __init__(self, media_type: str, media_key: bytes | None = None) -> None:
        self.media_type = media_type
        self.media_key = os.urandom(MEDIA_KEY_LENGTH) if media_key is None else media_key
        keys = media_keys(self.media_key, media_type)
        self._padder = padding.PKCS7(128).padder()
        self._cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_hash = hashlib.sha256()
        self._body_hash = hashlib.sha256()
        self.file_length = 0
        self._finished = False
        self._file_sha256 = b""
        self._file_enc_sha256 = b""

    def __repr__(self) -> str:
        return f"MediaEncryptor({self.media_type}, {self.file_length} bytes{', finished' if self._finished else ''})"

    def update(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Ciphertext for this much plaintext (whole blocks only; the rest waits for the next chunk)."""
        if self._finished:
            raise RuntimeError("MediaEncryptor.update after finish")
        self.file_length += len(chunk)
        self._plain_hash.update(chunk)
        out = self._cipher.update(self._padder.update(chunk))
        self._mac.update(out)
        self._body_hash.update(out)
        return out

    def finish(self) -> bytes:
        """The last ciphertext block(s) followed by the 10-byte MAC."""
        if self._finished:
            raise RuntimeError("MediaEncryptor.finish called twice")
        self._finished = True
        out = self._cipher.update(self._padder.finalize()) + self._cipher.finalize()
        self._mac.update(out)
        tail = out + self._mac.digest()[:MAC_LENGTH]
        self._body_hash.update(tail)
        self._file_sha256 = self._plain_hash.digest()
        self._file_enc_sha256 = self._body_hash.digest()
        return tail

    @property
    def file_sha256(self) -> bytes:
        self._require_finished()
        return self._file_sha256

    @property
    def file_enc_sha256(self) -> bytes:
        self._require_finished()
        return self._file_enc_sha256

    @property
    def body_length(self) -> int:
        return body_length(self.file_length)

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("the hashes are known only after finish()")


class MediaDecryptor:
    """Verify-and-decrypt over chunks of a downloaded body (see the module docstring for when to trust it)."""

    def __init__(
        self,
        media_key: bytes,
        media_type: str,
        *,
        file_enc_sha256: bytes | None = None,
        file_sha256: bytes | None = None,
    ) -> None:
        keys = media_keys(media_key, media_type)
        self.media_type = media_type
        self._expected_body = file_enc_sha256
        self._expected_plain = file_sha256
        self._cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).decryptor()
        self._unpadder = padding.PKCS7(128).unpadder()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_hash = hashlib.sha256()
        self._body_hash = hashlib.sha256()
        # The last MAC_LENGTH bytes seen so far may be the MAC, so they are held back from the cipher.
        self._tail = b""
        self.body_length = 0
        self.plaintext_length = 0
        self._finished = False

    def __repr__(self) -> str:
        return f"MediaDecryptor({self.media_type}, {self.body_length} body bytes)"

    def update(self, chunk: bytes) -> bytes:
        """Plaintext decrypted so far from this chunk: unauthenticated until `finish()` returns."""
        if self._finished:
            raise RuntimeError("MediaDecryptor.update after finish")
        if not chunk:
            return b""
        self.body_length += len(chunk)
        self._body_hash.update(chunk)
        data = self._tail + chunk
        ciphertext, self._tail = data[:-MAC_LENGTH], data[-MAC_LENGTH:]
        if not ciphertext:
            return b""
        self._mac.update(ciphertext)
        return self._emit(self._unpadder.update(self._cipher.update(ciphertext)))

    def finish(self) -> bytes:
        """Check everything; the last plaintext bytes, or MediaIntegrityError naming the failed check."""
        if self._finished:
            raise RuntimeError("MediaDecryptor.finish called twice")
        self._finished = True
        ciphertext_length = self.body_length - MAC_LENGTH
        if ciphertext_length < BLOCK or ciphertext_length % BLOCK:
            raise MediaIntegrityError("length", f"media body of {self.body_length} bytes is not whole AES blocks "
                                                "and a MAC")
        body_ok = self._expected_body is None or hmac.compare_digest(self._body_hash.digest(), self._expected_body)
        if not hmac.compare_digest(self._mac.digest()[:MAC_LENGTH], self._tail):
            why = "a corrupt or tampered body" if not body_ok else "a wrong media key or type"
            raise MediaIntegrityError("mac", f"media MAC mismatch ({why})")
        if not body_ok:
            raise MediaIntegrityError("fileEncSha256", "media body does not match the message's fileEncSha256")
        try:
            last = self._unpadder.update(self._cipher.finalize()) + self._unpadder.finalize()
        except ValueError:
            raise MediaIntegrityError("padding", "decrypted media has invalid PKCS#7 padding") from None
        out = self._emit(last)
        if self._expected_plain is not None and not hmac.compare_digest(self._plain_hash.digest(),
                                                                          self._expected_plain):
            raise MediaIntegrityError("fileSha256", "decrypted media does not match fileSha256")
        return out

    def _emit(self, plaintext: bytes) -> bytes:
        self.plaintext_length += len(plaintext)
        self._plain_hash.update(plaintext)
        return plaintext
