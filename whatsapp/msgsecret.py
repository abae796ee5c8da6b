"""The message secret: 32 random bytes in `messageContextInfo.messageSecret` of what we send.

Reactions, poll votes, edits and event responses that refer to one of our messages are encrypted with
keys derived from its secret, so a message without one cannot get them (whatsmeow `send.go` SendMessage,
`msgsecret.go`; Baileys `src/Utils/messages.ts`). Both references leave it out of the messages that are
themselves such references (`shouldIncludeReportingToken`), and so do we.
"""

from __future__ import annotations

import secrets

from whatsapp.proto import e2e_pb2

SECRET_LENGTH = 32
# The kinds that refer to another message instead of being one a reaction could point at.
_REFERRING = ("reactionMessage", "encReactionMessage", "encEventResponseMessage", "pollUpdateMessage",
              "protocolMessage", "senderKeyDistributionMessage")


def needs_secret(message: e2e_pb2.Message) -> bool:
    present = {field.name for field, _ in message.ListFields()}
    return not present & set(_REFERRING)


def with_message_secret(message: e2e_pb2.Message) -> e2e_pb2.Message:
    """A copy of `message` with a fresh secret when it needs one and has none; else `message` itself."""
    if not needs_secret(message):
        return message
    if message.HasField("messageContextInfo") and message.messageContextInfo.messageSecret:
        return message
    copy = e2e_pb2.Message()
    copy.CopyFrom(message)
    copy.messageContextInfo.messageSecret = secrets.token_bytes(SECRET_LENGTH)
    return copy
