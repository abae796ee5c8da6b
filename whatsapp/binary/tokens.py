"""The WABinary token tables (dictionary version 3) and the tag bytes.

The tables are vendored data (`wa_tokens_v3.json`, identical to Baileys' and whatsmeow's hard-coded
lists); the dictionary version is also sent in the connection's intro header.
"""

from __future__ import annotations

import json
from pathlib import Path

DICT_VERSION = 3

LIST_EMPTY = 0
DICTIONARY_0 = 236
DICTIONARY_1 = 237
DICTIONARY_2 = 238
DICTIONARY_3 = 239
INTEROP_JID = 245
FB_JID = 246
AD_JID = 247
LIST_8 = 248
LIST_16 = 249
JID_PAIR = 250
HEX_8 = 251
BINARY_8 = 252
BINARY_20 = 253
BINARY_32 = 254
NIBBLE_8 = 255

PACKED_MAX = 127


def _load() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    data = json.loads((Path(__file__).with_name("wa_tokens_v3.json")).read_text(encoding="utf-8"))
    single = tuple(data["single"])
    double = tuple(tuple(d) for d in data["double"])
    if len(single) != 236 or len(double) != 4 or any(len(d) != 256 for d in double):
        raise RuntimeError("wa_tokens_v3.json has the wrong shape")
    return single, double


SINGLE_BYTE_TOKENS, DOUBLE_BYTE_TOKENS = _load()


def _token_bytes() -> dict[str, bytes]:
    """String -> its encoded token bytes. Single-byte tokens win over double-byte ones (none repeat)."""
    table: dict[str, bytes] = {}
    for dict_index, tokens in enumerate(DOUBLE_BYTE_TOKENS):
        for index, token in enumerate(tokens):
            table.setdefault(token, bytes((DICTIONARY_0 + dict_index, index)))
    for index, token in enumerate(SINGLE_BYTE_TOKENS):
        if index:  # index 0 is the empty string and is never emitted
            table[token] = bytes((index,))
    return table


TOKEN_BYTES: dict[str, bytes] = _token_bytes()
