"""The children of a client's `<message>` as the server takes them: which it models, and the reporting token.

A sender's stanza holds the per-device ciphertexts (`<participants>`, `<enc>`), `<device-identity>` with a
pkmsg, `<meta>` hints, the contact's trust token (`<tctoken>`/`<cstoken>`, tokens.py) and the reporting token
`<reporting><reporting_token v="2">16 bytes</reporting_token></reporting>` (whatsmeow `reportingtoken.go`,
Baileys `src/Utils/reporting-utils.ts`). The server keeps the reporting token beside the message, for the
day a recipient reports it, and delivers it to nobody: it is a commitment between the sender and
WhatsApp, which the recipient reproduces from what it decrypted when it reports. It cannot be checked here
(that needs the message secret inside the ciphertext), only its shape: one `<reporting_token v="2">` of 16
bytes. Any other child, or a reporting node of another shape, is reported as unmodelled (strict.py) and
not delivered either.
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.testing import strict
from whatsapp.testing.state import ServerState

# `<meta>` is a hint to the server (polltype/event_type of a creation, appdata of a peer message) that no
# recipient's copy carries either; the emulator routes those messages alike, so it takes it as read.
MODELLED_CHILDREN = frozenset({"participants", "enc", "device-identity", "tctoken", "cstoken", "reporting", "meta"})
REPORTING_VERSION = "2"
REPORTING_TOKEN_LENGTH = 16


def check_children(state: ServerState, node: Node) -> bytes | None:
    """Report the children of `node` the server does not model; return its reporting token, if well formed."""
    for child in node.children:
        if child.tag not in MODELLED_CHILDREN:
            strict.report(state, strict.UNMODELLED, "message-child", f"<{child.tag}> in message "
                          f"{node.attrs.get('id')}", node=node)
    reporting = node.child("reporting")
    if reporting is None:
        return None
    problem = _reporting_problem(reporting)
    if problem is not None:
        strict.report(state, strict.UNMODELLED, "message-reporting", f"message {node.attrs.get('id')}: {problem}",
                      node=reporting)
        return None
    return reporting.children[0].content_bytes


def _reporting_problem(reporting: Node) -> str | None:
    if len(reporting.children) != 1 or reporting.children[0].tag != "reporting_token":
        return "<reporting> must hold exactly one <reporting_token>"
    token = reporting.children[0]
    if token.attr_str("v") != REPORTING_VERSION:
        return f"<reporting_token v={token.attr_str('v')!r}>, the server takes v=\"{REPORTING_VERSION}\""
    if len(token.content_bytes or b"") != REPORTING_TOKEN_LENGTH:
        return f"a reporting token of {len(token.content_bytes or b'')} bytes, not {REPORTING_TOKEN_LENGTH}"
    return None
