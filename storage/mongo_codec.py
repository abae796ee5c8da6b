"""How a unit of work and its records look in MongoDB: change-log entries, key documents, sealed credentials.

A change-log entry (`whatsapp_session_changes`) is one document per unit of work:

    {_id: "<sessionId>:<version, 12 digits>", sessionId, version, lineage, id, parent, reset, writerToken,
     creds, keys: [[type, id, Binary | null], ...], encryption, parts, createdAt}

Values are sealed exactly as in the key documents (the same associated data, records.record_ad), so
folding an entry into the key documents copies the stored bytes without opening them. An entry too
large for one BSON document keeps its keys in `whatsapp_session_change_parts`, written before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import Binary

from storage.errors import CorruptSessionError
from storage.model import Change, KeyRef
from storage.records import Sealer, creds_from_bytes, creds_to_bytes, record_ad

# One unit of work must fit a 16 MiB BSON document with room to spare; past this its keys go to parts.
PART_BYTES = 4 * 1024 * 1024
KEY_OVERHEAD = 64  # BSON framing of one [type, id, value] triple, roughly


def entry_id(session_id: str, version: int) -> str:
    return f"{session_id}:{version:012d}"


def phone_from_jid(jid: str | None) -> str | None:
    if not jid:
        return None
    return jid.split("@", 1)[0].split(":", 1)[0].split(".", 1)[0] or None


def stored_creds(session_id: str, sealer: Sealer | None, creds: dict[str, Any] | None) -> Any:
    if creds is None:
        return None
    if sealer is not None:
        return {"sealed": Binary(sealer.seal(creds_to_bytes(creds), record_ad(session_id, "creds")))}
    return creds


def stored_value(session_id: str, sealer: Sealer | None, ref: KeyRef, value: bytes) -> Binary:
    if sealer is not None:
        value = sealer.seal(value, record_ad(session_id, "key", *ref))
    return Binary(value)


def open_creds(session_id: str, sealer: Sealer | None, stored: Any, where: str) -> dict[str, Any] | None:
    if stored is None:
        return None
    if not isinstance(stored, dict):
        raise CorruptSessionError(f"{where}: not a document; restore the session from the folder or a backup")
    if "sealed" in stored:
        if sealer is None:
            raise CorruptSessionError(f"{where} are sealed but carry no encryption header")
        plaintext = sealer.open(bytes(stored["sealed"]), record_ad(session_id, "creds"), where)
        return creds_from_bytes(plaintext, where)
    if sealer is not None:
        raise CorruptSessionError(f"{where} are in plain text inside an encrypted session; restore them")
    return {k: (bytes(v) if isinstance(v, Binary) else v) for k, v in stored.items()}


def open_value(session_id: str, sealer: Sealer | None, ref: KeyRef, value: Any, sealed: bool, where: str) -> bytes:
    if not isinstance(value, bytes):
        raise CorruptSessionError(f"{where}: value is not binary; restore the session from the folder or a backup")
    if sealed:
        if sealer is None:
            raise CorruptSessionError(f"{where} is sealed but the session has no encryption header")
        return sealer.open(bytes(value), record_ad(session_id, "key", *ref), where)
    if sealer is not None:
        raise CorruptSessionError(f"{where} is in plain text inside an encrypted session; restore it")
    return bytes(value)


def encode_entry(
    session_id: str, sealer: Sealer | None, change: Change, token: int, now: datetime
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The entry document, and the part documents to write first when the keys do not fit in one."""
    keys: list[list[Any]] = []
    size = 0
    for ref, value in change.keys.items():
        stored = None if value is None else stored_value(session_id, sealer, ref, value)
        keys.append([ref[0], ref[1], stored])
        size += KEY_OVERHEAD + len(ref[0]) + len(ref[1]) + (0 if stored is None else len(stored))
    doc: dict[str, Any] = {
        "_id": entry_id(session_id, change.version),
        "sessionId": session_id,
        "version": change.version,
        "lineage": change.lineage,
        "id": change.id,
        "parent": change.parent,
        "reset": change.reset,
        "writerToken": token,
        "creds": stored_creds(session_id, sealer, change.creds),
        "sealed": sealer is not None,
        "encryption": None if sealer is None else sealer.info(),
        "createdAt": now,
        "parts": 0,
        "keys": keys,
    }
    if size <= PART_BYTES:
        return doc, []
    parts: list[dict[str, Any]] = []
    chunk: list[list[Any]] = []
    chunk_size = 0
    for triple in [*keys, None]:
        if triple is None or (chunk and chunk_size + KEY_OVERHEAD + len(triple[2] or b"") > PART_BYTES):
            n = len(parts)
            parts.append(
                {
                    "_id": f"{change.id}:{n}",
                    "sessionId": session_id,
                    "changeId": change.id,
                    "version": change.version,
                    "n": n,
                    "keys": chunk,
                    "createdAt": now,
                }
            )
            chunk, chunk_size = [], 0
        if triple is not None:
            chunk.append(triple)
            chunk_size += KEY_OVERHEAD + len(triple[2] or b"")
    doc["keys"] = []
    doc["parts"] = len(parts)
    return doc, parts


def decode_entry(session_id: str, sealer: Sealer | None, doc: dict[str, Any], keys: list[Any], where: str) -> Change:
    """A change from its entry document (and the keys of its parts, already joined in order)."""
    try:
        changed: dict[KeyRef, bytes | None] = {}
        for key_type, key_id, value in keys:
            ref = (str(key_type), str(key_id))
            key_where = f"{where} key {ref[0]}/{ref[1]}"
            changed[ref] = (
                None if value is None else open_value(session_id, sealer, ref, value, bool(doc["sealed"]), key_where)
            )
        return Change(
            version=int(doc["version"]),
            lineage=str(doc["lineage"]),
            creds=open_creds(session_id, sealer, doc.get("creds"), f"{where} credentials"),
            keys=changed,
            reset=bool(doc.get("reset")),
            id=str(doc["id"]),
            parent=str(doc.get("parent") or ""),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptSessionError(f"{where}: malformed change-log entry ({exc!r}); restore the session") from None
