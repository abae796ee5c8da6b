"""The streaming media encryptor/decryptor (whatsapp/media_stream.py) against the one-shot functions of
whatsapp/media.py, for every chunking, and every check failing on its own."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp.errors import CryptoError, MediaIntegrityError
from whatsapp.media import MAC_LENGTH, decrypt_media, encrypt_media
from whatsapp.media_stream import MediaDecryptor, MediaEncryptor, body_length


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out, start = [], 0
    for size in sizes:
        out.append(data[start:start + size])
        start += size
    out.append(data[start:])
    return out


def stream_encrypt(data: bytes, kind: str, key: bytes, sizes: list[int]) -> tuple[MediaEncryptor, bytes]:
    enc = MediaEncryptor(kind, key)
    body = b"".join([enc.update(c) for c in chunked(data, sizes)] + [enc.finish()])
    return enc, body


def stream_decrypt(body: bytes, kind: str, key: bytes, sizes: list[int], **checks: bytes) -> bytes:
    dec = MediaDecryptor(key, kind, **checks)
    return b"".join([dec.update(c) for c in chunked(body, sizes)] + [dec.finish()])


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=3000), sizes=st.lists(st.integers(0, 700), max_size=8),
       kind=st.sampled_from(["image", "video", "audio", "document", "sticker", "md-msg-hist"]))
def test_streaming_matches_the_one_shot_functions(data: bytes, sizes: list[int], kind: str) -> None:
    key = os.urandom(32)
    enc, body = stream_encrypt(data, kind, key, sizes)
    one_shot = encrypt_media(data, kind, key)
    assert body == one_shot.body and len(body) == body_length(len(data)) == enc.body_length
    assert (enc.file_sha256, enc.file_enc_sha256, enc.file_length) == (
        one_shot.file_sha256, one_shot.file_enc_sha256, one_shot.file_length)
    plain = stream_decrypt(body, kind, key, list(reversed(sizes)), file_enc_sha256=enc.file_enc_sha256,
                           file_sha256=enc.file_sha256)
    assert plain == data == decrypt_media(body, key, kind)


def test_the_same_key_gives_the_same_body_so_the_upload_can_encrypt_twice() -> None:
    data = os.urandom(100_000)
    first, body1 = stream_encrypt(data, "document", os.urandom(32), [4096] * 10)
    _, body2 = stream_encrypt(data, "document", first.media_key, [777] * 50)
    assert body1 == body2


def test_hashes_are_only_known_after_finish() -> None:
    enc = MediaEncryptor("image")
    enc.update(b"abc")
    with pytest.raises(RuntimeError):
        _ = enc.file_enc_sha256


@pytest.fixture
def sealed() -> tuple[bytes, bytes, MediaEncryptor]:
    key = os.urandom(32)
    enc, body = stream_encrypt(os.urandom(5000), "image", key, [1000])
    return key, body, enc


def test_a_damaged_body_fails_the_mac_first(sealed: tuple[bytes, bytes, MediaEncryptor]) -> None:
    key, body, enc = sealed
    damaged = bytearray(body)
    damaged[100] ^= 1
    with pytest.raises(MediaIntegrityError) as caught:
        stream_decrypt(bytes(damaged), "image", key, [333], file_enc_sha256=enc.file_enc_sha256,
                       file_sha256=enc.file_sha256)
    assert caught.value.check == "mac" and "corrupt" in str(caught.value)
    assert isinstance(caught.value, CryptoError)


def test_a_wrong_key_or_type_fails_the_mac(sealed: tuple[bytes, bytes, MediaEncryptor]) -> None:
    key, body, _ = sealed
    for bad_key, kind in ((os.urandom(32), "image"), (key, "video")):
        with pytest.raises(MediaIntegrityError) as caught:
            stream_decrypt(body, kind, bad_key, [])
        assert caught.value.check == "mac"


def test_a_wrong_enc_hash_with_a_good_mac_is_named(sealed: tuple[bytes, bytes, MediaEncryptor]) -> None:
    key, body, enc = sealed
    with pytest.raises(MediaIntegrityError) as caught:
        stream_decrypt(body, "image", key, [], file_enc_sha256=bytes(32))
    assert caught.value.check == "fileEncSha256"
    with pytest.raises(MediaIntegrityError) as caught:
        stream_decrypt(body, "image", key, [], file_enc_sha256=enc.file_enc_sha256, file_sha256=bytes(32))
    assert caught.value.check == "fileSha256"


@pytest.mark.parametrize("length", [0, 5, MAC_LENGTH, MAC_LENGTH + 15, MAC_LENGTH + 17])
def test_bodies_that_are_not_whole_blocks_are_refused(length: int) -> None:
    with pytest.raises(MediaIntegrityError) as caught:
        stream_decrypt(os.urandom(length), "image", os.urandom(32), [3])
    assert caught.value.check == "length"


def test_bad_padding_under_a_good_mac_is_refused() -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from whatsapp.cipher import hmac_sha256
    from whatsapp.media import media_keys

    key = os.urandom(32)
    keys = media_keys(key, "document")
    block = bytes(16)  # decrypts to a last byte that is not valid PKCS#7 with high probability; force it
    encryptor = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ciphertext = encryptor.update(block[:15] + b"\x00") + encryptor.finalize()
    body = ciphertext + hmac_sha256(keys.mac_key, keys.iv + ciphertext)[:MAC_LENGTH]
    with pytest.raises(MediaIntegrityError) as caught:
        stream_decrypt(body, "document", key, [7])
    assert caught.value.check == "padding"
