"""Media keys, encryption and verified decryption; agreement with Baileys 7 both ways; message padding."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from whatsapp import media
from whatsapp.cipher import hkdf_sha256
from whatsapp.errors import CryptoError, DecodeError
from whatsapp.padding import pad_message, unpad_message
from whatsapp.testing.harness.nodejs import run_node_json

MEDIA_KEY = hashlib.sha256(b"media-key").digest()

# docs/protocol.md §Media keys: every <X> of "WhatsApp <X> Keys".
EXPECTED_KINDS = {
    "Image",
    "Video",
    "Audio",
    "Document",
    "History",
    "App State",
    "Link Thumbnail",
    "Image Thumbnail",
    "Video Thumbnail",
    "Document Thumbnail",
    "Payment Background",
    "Sticker Pack",
}


def _media(ops: list[dict]) -> list[dict]:
    return run_node_json("media_oracle.mjs", input_obj={"ops": ops})["results"]


def test_every_documented_kind_has_a_media_type() -> None:
    assert set(media.MEDIA_HKDF_KINDS.values()) == EXPECTED_KINDS
    assert media.hkdf_info("sticker") == b"WhatsApp Image Keys"
    assert media.hkdf_info("ptt") == b"WhatsApp Audio Keys"
    assert media.hkdf_info("md-app-state") == b"WhatsApp App State Keys"
    with pytest.raises(CryptoError, match="unknown media type"):
        media.hkdf_info("hologram")


def test_keys_are_the_four_slices_of_hkdf_112() -> None:
    expanded = hkdf_sha256(MEDIA_KEY, 112, info=b"WhatsApp Sticker Pack Keys")
    keys = media.media_keys(MEDIA_KEY, "sticker-pack")
    assert keys.iv + keys.cipher_key + keys.mac_key + keys.ref_key == expanded
    assert len(keys.iv) == 16 and len(keys.ref_key) == 32
    with pytest.raises(CryptoError):
        media.media_keys(MEDIA_KEY[:31], "image")
    assert MEDIA_KEY.hex() not in repr(keys)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(sorted(media.MEDIA_HKDF_KINDS)))
def test_round_trip(plaintext: bytes, media_type: str) -> None:
    enc = media.encrypt_media(plaintext, media_type)
    assert len(enc.body) == (len(plaintext) // 16 + 1) * 16 + 10
    assert enc.file_length == len(plaintext)
    assert enc.file_sha256 == hashlib.sha256(plaintext).digest()
    assert enc.file_enc_sha256 == hashlib.sha256(enc.body).digest()
    out = media.decrypt_media(
        enc.body, enc.media_key, media_type, file_enc_sha256=enc.file_enc_sha256, file_sha256=enc.file_sha256
    )
    assert out == plaintext


def test_each_check_fails_with_crypto_error() -> None:
    enc = media.encrypt_media(b"a picture" * 10, "image", MEDIA_KEY)
    good = {"file_enc_sha256": enc.file_enc_sha256, "file_sha256": enc.file_sha256}
    tampered = bytearray(enc.body)
    tampered[5] ^= 1
    with pytest.raises(CryptoError, match="fileEncSha256"):
        media.decrypt_media(bytes(tampered), MEDIA_KEY, "image", **good)
    with pytest.raises(CryptoError, match="MAC"):  # without the hash the MAC catches it
        media.decrypt_media(bytes(tampered), MEDIA_KEY, "image")
    with pytest.raises(CryptoError, match="MAC"):
        media.decrypt_media(enc.body, MEDIA_KEY, "video")  # right key, wrong type
    with pytest.raises(CryptoError, match="MAC"):
        media.decrypt_media(enc.body, os.urandom(32), "image")
    with pytest.raises(CryptoError, match="fileSha256"):
        media.decrypt_media(enc.body, MEDIA_KEY, "image", file_sha256=bytes(32))
    with pytest.raises(CryptoError, match="too short"):
        media.decrypt_media(enc.body[:20], MEDIA_KEY, "image")


def test_padding() -> None:
    for n in range(1, 17):
        assert pad_message(b"abc", n) == b"abc" + bytes([n]) * n
        assert unpad_message(pad_message(b"abc", n)) == b"abc"
    lengths = {len(pad_message(b"")) for _ in range(400)}
    assert lengths == set(range(1, 17))
    assert unpad_message(b"\x01") == b""
    for bad in (b"", b"abc\x00", b"abc\x05", b"abc\x01\x02", b"ab\x03\x02\x03"):
        with pytest.raises(DecodeError):
            unpad_message(bad)
    with pytest.raises(ValueError):
        pad_message(b"x", 17)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_unpad_never_raises_anything_but_decode_error(data: bytes) -> None:
    try:
        out = unpad_message(data)
    except DecodeError:
        return
    n = data[-1]
    assert out == data[:-n] and data[-n:] == bytes([n]) * n


# --- against Baileys 7 ------------------------------------------------------------------------------------

BAILEYS_TYPES = [
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "gif",
    "ptt",
    "ptv",
    "product",
    "biz-cover-photo",
    "thumbnail-image",
    "thumbnail-video",
    "thumbnail-document",
    "thumbnail-link",
    "md-msg-hist",
    "md-app-state",
    "payment-bg-image",
]


@pytest.mark.node
def test_media_keys_match_baileys_for_every_type() -> None:
    results = _media([{"op": "keys", "media_key": MEDIA_KEY.hex(), "type": t} for t in BAILEYS_TYPES])
    for media_type, result in zip(BAILEYS_TYPES, results, strict=True):
        keys = media.media_keys(MEDIA_KEY, media_type)
        assert (keys.iv.hex(), keys.cipher_key.hex(), keys.mac_key.hex()) == (
            result["iv"],
            result["cipher_key"],
            result["mac_key"],
        ), media_type


@pytest.mark.node
def test_baileys_blob_decrypts_in_python_and_python_blob_in_baileys() -> None:
    samples = [(b"", "image"), (b"x" * 16, "document"), (os.urandom(5000), "video"), (os.urandom(33), "ptt")]
    ours = [media.encrypt_media(data, t) for data, t in samples]
    ops = [{"op": "encrypt", "plaintext": data.hex(), "type": t} for data, t in samples]
    ops += [
        {"op": "decrypt", "body": enc.body.hex(), "media_key": enc.media_key.hex(), "type": t}
        for enc, (_, t) in zip(ours, samples, strict=True)
    ]
    results = _media(ops)
    for (data, media_type), theirs in zip(samples, results[: len(samples)], strict=True):
        assert "error" not in theirs, theirs
        body = bytes.fromhex(theirs["body"])
        assert body[-10:].hex() == theirs["mac"]
        assert theirs["file_length"] == len(data)
        out = media.decrypt_media(
            body,
            bytes.fromhex(theirs["media_key"]),
            media_type,
            file_enc_sha256=bytes.fromhex(theirs["file_enc_sha256"]),
            file_sha256=bytes.fromhex(theirs["file_sha256"]),
        )
        assert out == data
        # Same key, same plaintext: our encryption is byte-identical to Baileys'.
        again = media.encrypt_media(data, media_type, bytes.fromhex(theirs["media_key"]))
        assert again.body == body
        assert again.file_enc_sha256.hex() == theirs["file_enc_sha256"]
    for (data, _), result in zip(samples, results[len(samples) :], strict=True):
        assert "error" not in result, result
        assert bytes.fromhex(result["plaintext"]) == data


@pytest.mark.node
def test_padding_interop_with_baileys() -> None:
    payload = b"\x0a\x05hello"
    ops = [{"op": "pad", "data": payload.hex()} for _ in range(30)]
    ops += [{"op": "unpad", "data": pad_message(payload, n).hex()} for n in range(1, 17)]
    results = _media(ops)
    for result in results[:30]:
        assert unpad_message(bytes.fromhex(result["padded"])) == payload
    assert {len(bytes.fromhex(r["padded"])) - len(payload) for r in results[:30]} <= set(range(1, 17))
    for result in results[30:]:
        assert bytes.fromhex(result["data"]) == payload
