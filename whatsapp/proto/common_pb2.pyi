from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MessageKey(_message.Message):
    __slots__ = ("remoteJID", "fromMe", "ID", "participant")
    REMOTEJID_FIELD_NUMBER: _ClassVar[int]
    FROMME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    remoteJID: str
    fromMe: bool
    ID: str
    participant: str
    def __init__(self, remoteJID: _Optional[str] = ..., fromMe: _Optional[bool] = ..., ID: _Optional[str] = ..., participant: _Optional[str] = ...) -> None: ...
