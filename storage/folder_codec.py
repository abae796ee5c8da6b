"""Record formats of the folder copy: key files, journal entries and the credentials file.

Key file: magic `WAK1`, one flag byte (bit 0: sealed), CRC-32 of the rest, then the id length (2
bytes), the UTF-8 id and the value (AES-GCM sealed when encrypted). Journal entry and credentials:
checksummed JSON (`records.dump_checked`); sealed bodies bind the record's identity into the associated
data (`records.record_ad`), so a sealed record copied into another slot does not open.
"""

from __future__ import annotations

import base64
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

from storage.errors import CorruptSessionError
from storage.model import Change, KeyRef
from storage.records import (
    SCHEMA_VERSION,
    Sealer,
    canonical_json,
    creds_from_bytes,
    creds_to_bytes,
    dump_checked,
    from_json_value,
    load_checked,
    record_ad,
    to_json_value,
)
from whatsapp.cipher import sha256

KEY_MAGIC = b"WAK1"
FLAG_SEALED = 0x01
MAX_PLAIN_NAME = 150


def key_file_name(key_id: str) -> str:
    quoted = quote(key_id, safe="")
    if len(quoted) <= MAX_PLAIN_NAME:
        return quoted + ".key"
    # Very long ids are hashed; the id itself is inside the file.
    return "h-" + sha256(key_id.encode()).hex() + ".key"


def journal_name(version: int) -> str:
    return f"{version:012d}.json"


# ---- key files ----


def encode_key(session_id: str, sealer: Sealer | None, key_type: str, key_id: str, value: bytes) -> bytes:
    id_bytes = key_id.encode()
    flags = 0
    if sealer is not None:
        value = sealer.seal(value, record_ad(session_id, "key", key_type, key_id))
        flags |= FLAG_SEALED
    rest = len(id_bytes).to_bytes(2, "big") + id_bytes + value
    return KEY_MAGIC + bytes([flags]) + zlib.crc32(rest).to_bytes(4, "big") + rest


def decode_key(
    session_id: str, sealer: Sealer | None, key_type: str, path: Path, data: bytes, meta_path: Path
) -> tuple[str, bytes]:
    where = str(path)
    if len(data) < 11 or data[:4] != KEY_MAGIC:
        raise CorruptSessionError(f"{where} is not a key file (bad header); restore the session folder")
    flags = data[4]
    rest = data[9:]
    if zlib.crc32(rest) != int.from_bytes(data[5:9], "big"):
        raise CorruptSessionError(f"{where} fails its CRC-32 (damaged file); restore the session folder")
    id_length = int.from_bytes(rest[:2], "big")
    try:
        key_id = rest[2 : 2 + id_length].decode()
    except UnicodeDecodeError:
        raise CorruptSessionError(f"{where}: key id is not UTF-8") from None
    if key_file_name(key_id) != path.name:
        raise CorruptSessionError(f"{where} holds key {key_id!r}, which belongs in another file")
    payload = rest[2 + id_length :]
    if flags & FLAG_SEALED:
        if sealer is None:
            raise CorruptSessionError(f"{where} is sealed but {meta_path} has no encryption header")
        return key_id, sealer.open(payload, record_ad(session_id, "key", key_type, key_id), where)
    if sealer is not None:
        raise CorruptSessionError(f"{where} is stored in plain text inside an encrypted session; restore it")
    return key_id, payload


# ---- credentials file ----


def encode_creds(session_id: str, sealer: Sealer | None, change: Change) -> bytes:
    assert change.creds is not None
    body: dict[str, Any] = {"schema": SCHEMA_VERSION, "lineage": change.lineage, "version": change.version}
    if sealer is not None:
        sealed = sealer.seal(creds_to_bytes(change.creds), record_ad(session_id, "creds"))
        body["sealed"] = base64.b64encode(sealed).decode()
    else:
        body["creds"] = to_json_value(change.creds)
    return dump_checked(body)


def open_creds(
    session_id: str, sealer: Sealer | None, body: dict[str, Any], where: str, meta_path: Path
) -> dict[str, Any] | None:
    if body.get("sealed") is not None:
        if sealer is None:
            raise CorruptSessionError(f"{where} is sealed but {meta_path} has no encryption header")
        plaintext = sealer.open(base64.b64decode(body["sealed"]), record_ad(session_id, "creds"), where)
        return creds_from_bytes(plaintext, where)
    if sealer is not None and body.get("creds") is not None:
        raise CorruptSessionError(f"{where} is stored in plain text inside an encrypted session; restore it")
    creds = body.get("creds")
    if creds is None:
        return None
    value = from_json_value(creds)
    if not isinstance(value, dict):
        raise CorruptSessionError(f"{where}: the credentials record is not an object")
    return value


# ---- journal entries ----


def encode_journal(session_id: str, sealer: Sealer | None, change: Change) -> bytes:
    body = {
        "creds": to_json_value(change.creds) if change.creds is not None else None,
        "keys": [
            [key_type, key_id, None if value is None else base64.b64encode(value).decode()]
            for (key_type, key_id), value in change.keys.items()
        ],
    }
    head: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "sessionId": session_id,
        "version": change.version,
        "lineage": change.lineage,
        "reset": change.reset,
        "id": change.id,
        "parent": change.parent,
    }
    if sealer is not None:
        ad = record_ad(session_id, "journal", str(change.version), change.lineage)
        head["encryption"] = to_json_value(sealer.info())
        head["sealed"] = base64.b64encode(sealer.seal(canonical_json(body), ad)).decode()
    else:
        head["encryption"] = None
        head["body"] = body
    return dump_checked(head)


def decode_journal(session_id: str, passphrase: str | None, path: Path, data: bytes) -> Change:
    where = str(path)
    head = load_checked(data, where)
    try:
        version, lineage = int(head["version"]), str(head["lineage"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSessionError(f"{where}: malformed journal entry ({exc})") from None
    if journal_name(version) != path.name:
        raise CorruptSessionError(f"{where} holds journal entry {version}; it was renamed by hand")
    body = head.get("body")
    if head.get("encryption") is not None:
        sealer = Sealer.from_info(passphrase, from_json_value(head["encryption"]), where)
        plaintext = sealer.open(
            base64.b64decode(head["sealed"]), record_ad(session_id, "journal", str(version), lineage), where
        )
        body = creds_from_bytes(plaintext, where)
    elif not isinstance(body, dict):
        raise CorruptSessionError(f"{where}: journal entry has no body")
    try:
        keys: dict[KeyRef, bytes | None] = {}
        for key_type, key_id, value in body["keys"]:
            keys[(str(key_type), str(key_id))] = None if value is None else base64.b64decode(value)
        creds = body.get("creds")
        return Change(
            version=version,
            lineage=lineage,
            creds=from_json_value(creds) if creds is not None else None,
            keys=keys,
            reset=bool(head.get("reset")),
            id=str(head["id"]),
            parent=str(head.get("parent") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSessionError(f"{where}: malformed journal entry ({exc})") from None
