from whatsapp.proto import common_pb2 as _common_pb2
from whatsapp.proto import e2e_pb2 as _e2e_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HistorySync(_message.Message):
    __slots__ = ("syncType", "conversations", "statusV3Messages", "chunkOrder", "progress", "pushnames", "threadIDUserSecret", "threadDsTimeframeOffset", "phoneNumberToLidMappings", "companionMetaNonce", "shareableChatIdentifierEncryptionKey", "nctSalt")
    class HistorySyncType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        INITIAL_BOOTSTRAP: _ClassVar[HistorySync.HistorySyncType]
        INITIAL_STATUS_V3: _ClassVar[HistorySync.HistorySyncType]
        FULL: _ClassVar[HistorySync.HistorySyncType]
        RECENT: _ClassVar[HistorySync.HistorySyncType]
        PUSH_NAME: _ClassVar[HistorySync.HistorySyncType]
        NON_BLOCKING_DATA: _ClassVar[HistorySync.HistorySyncType]
        ON_DEMAND: _ClassVar[HistorySync.HistorySyncType]
    INITIAL_BOOTSTRAP: HistorySync.HistorySyncType
    INITIAL_STATUS_V3: HistorySync.HistorySyncType
    FULL: HistorySync.HistorySyncType
    RECENT: HistorySync.HistorySyncType
    PUSH_NAME: HistorySync.HistorySyncType
    NON_BLOCKING_DATA: HistorySync.HistorySyncType
    ON_DEMAND: HistorySync.HistorySyncType
    SYNCTYPE_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    STATUSV3MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CHUNKORDER_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    PUSHNAMES_FIELD_NUMBER: _ClassVar[int]
    THREADIDUSERSECRET_FIELD_NUMBER: _ClassVar[int]
    THREADDSTIMEFRAMEOFFSET_FIELD_NUMBER: _ClassVar[int]
    PHONENUMBERTOLIDMAPPINGS_FIELD_NUMBER: _ClassVar[int]
    COMPANIONMETANONCE_FIELD_NUMBER: _ClassVar[int]
    SHAREABLECHATIDENTIFIERENCRYPTIONKEY_FIELD_NUMBER: _ClassVar[int]
    NCTSALT_FIELD_NUMBER: _ClassVar[int]
    syncType: HistorySync.HistorySyncType
    conversations: _containers.RepeatedCompositeFieldContainer[Conversation]
    statusV3Messages: _containers.RepeatedCompositeFieldContainer[WebMessageInfo]
    chunkOrder: int
    progress: int
    pushnames: _containers.RepeatedCompositeFieldContainer[Pushname]
    threadIDUserSecret: bytes
    threadDsTimeframeOffset: int
    phoneNumberToLidMappings: _containers.RepeatedCompositeFieldContainer[PhoneNumberToLIDMapping]
    companionMetaNonce: str
    shareableChatIdentifierEncryptionKey: bytes
    nctSalt: bytes
    def __init__(self, syncType: _Optional[_Union[HistorySync.HistorySyncType, str]] = ..., conversations: _Optional[_Iterable[_Union[Conversation, _Mapping]]] = ..., statusV3Messages: _Optional[_Iterable[_Union[WebMessageInfo, _Mapping]]] = ..., chunkOrder: _Optional[int] = ..., progress: _Optional[int] = ..., pushnames: _Optional[_Iterable[_Union[Pushname, _Mapping]]] = ..., threadIDUserSecret: _Optional[bytes] = ..., threadDsTimeframeOffset: _Optional[int] = ..., phoneNumberToLidMappings: _Optional[_Iterable[_Union[PhoneNumberToLIDMapping, _Mapping]]] = ..., companionMetaNonce: _Optional[str] = ..., shareableChatIdentifierEncryptionKey: _Optional[bytes] = ..., nctSalt: _Optional[bytes] = ...) -> None: ...

class Conversation(_message.Message):
    __slots__ = ("ID", "messages", "newJID", "oldJID", "lastMsgTimestamp", "unreadCount", "readOnly", "endOfHistoryTransfer", "ephemeralExpiration", "ephemeralSettingTimestamp", "conversationTimestamp", "name", "pHash", "notSpam", "archived", "unreadMentionCount", "markedAsUnread", "tcToken", "tcTokenTimestamp", "contactPrimaryIdentityKey", "pinned", "muteEndTime", "tcTokenSenderTimestamp", "suspended", "terminated", "createdAt", "createdBy", "description", "displayName", "pnJID", "shareOwnPn", "lidJID", "username", "accountLid")
    ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEWJID_FIELD_NUMBER: _ClassVar[int]
    OLDJID_FIELD_NUMBER: _ClassVar[int]
    LASTMSGTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    UNREADCOUNT_FIELD_NUMBER: _ClassVar[int]
    READONLY_FIELD_NUMBER: _ClassVar[int]
    ENDOFHISTORYTRANSFER_FIELD_NUMBER: _ClassVar[int]
    EPHEMERALEXPIRATION_FIELD_NUMBER: _ClassVar[int]
    EPHEMERALSETTINGTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHASH_FIELD_NUMBER: _ClassVar[int]
    NOTSPAM_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    UNREADMENTIONCOUNT_FIELD_NUMBER: _ClassVar[int]
    MARKEDASUNREAD_FIELD_NUMBER: _ClassVar[int]
    TCTOKEN_FIELD_NUMBER: _ClassVar[int]
    TCTOKENTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    CONTACTPRIMARYIDENTITYKEY_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    MUTEENDTIME_FIELD_NUMBER: _ClassVar[int]
    TCTOKENSENDERTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_FIELD_NUMBER: _ClassVar[int]
    CREATEDAT_FIELD_NUMBER: _ClassVar[int]
    CREATEDBY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    DISPLAYNAME_FIELD_NUMBER: _ClassVar[int]
    PNJID_FIELD_NUMBER: _ClassVar[int]
    SHAREOWNPN_FIELD_NUMBER: _ClassVar[int]
    LIDJID_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    ACCOUNTLID_FIELD_NUMBER: _ClassVar[int]
    ID: str
    messages: _containers.RepeatedCompositeFieldContainer[HistorySyncMsg]
    newJID: str
    oldJID: str
    lastMsgTimestamp: int
    unreadCount: int
    readOnly: bool
    endOfHistoryTransfer: bool
    ephemeralExpiration: int
    ephemeralSettingTimestamp: int
    conversationTimestamp: int
    name: str
    pHash: str
    notSpam: bool
    archived: bool
    unreadMentionCount: int
    markedAsUnread: bool
    tcToken: bytes
    tcTokenTimestamp: int
    contactPrimaryIdentityKey: bytes
    pinned: int
    muteEndTime: int
    tcTokenSenderTimestamp: int
    suspended: bool
    terminated: bool
    createdAt: int
    createdBy: str
    description: str
    displayName: str
    pnJID: str
    shareOwnPn: bool
    lidJID: str
    username: str
    accountLid: str
    def __init__(self, ID: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[HistorySyncMsg, _Mapping]]] = ..., newJID: _Optional[str] = ..., oldJID: _Optional[str] = ..., lastMsgTimestamp: _Optional[int] = ..., unreadCount: _Optional[int] = ..., readOnly: _Optional[bool] = ..., endOfHistoryTransfer: _Optional[bool] = ..., ephemeralExpiration: _Optional[int] = ..., ephemeralSettingTimestamp: _Optional[int] = ..., conversationTimestamp: _Optional[int] = ..., name: _Optional[str] = ..., pHash: _Optional[str] = ..., notSpam: _Optional[bool] = ..., archived: _Optional[bool] = ..., unreadMentionCount: _Optional[int] = ..., markedAsUnread: _Optional[bool] = ..., tcToken: _Optional[bytes] = ..., tcTokenTimestamp: _Optional[int] = ..., contactPrimaryIdentityKey: _Optional[bytes] = ..., pinned: _Optional[int] = ..., muteEndTime: _Optional[int] = ..., tcTokenSenderTimestamp: _Optional[int] = ..., suspended: _Optional[bool] = ..., terminated: _Optional[bool] = ..., createdAt: _Optional[int] = ..., createdBy: _Optional[str] = ..., description: _Optional[str] = ..., displayName: _Optional[str] = ..., pnJID: _Optional[str] = ..., shareOwnPn: _Optional[bool] = ..., lidJID: _Optional[str] = ..., username: _Optional[str] = ..., accountLid: _Optional[str] = ...) -> None: ...

class HistorySyncMsg(_message.Message):
    __slots__ = ("message", "msgOrderID")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MSGORDERID_FIELD_NUMBER: _ClassVar[int]
    message: WebMessageInfo
    msgOrderID: int
    def __init__(self, message: _Optional[_Union[WebMessageInfo, _Mapping]] = ..., msgOrderID: _Optional[int] = ...) -> None: ...

class Pushname(_message.Message):
    __slots__ = ("ID", "pushname")
    ID_FIELD_NUMBER: _ClassVar[int]
    PUSHNAME_FIELD_NUMBER: _ClassVar[int]
    ID: str
    pushname: str
    def __init__(self, ID: _Optional[str] = ..., pushname: _Optional[str] = ...) -> None: ...

class PhoneNumberToLIDMapping(_message.Message):
    __slots__ = ("pnJID", "lidJID")
    PNJID_FIELD_NUMBER: _ClassVar[int]
    LIDJID_FIELD_NUMBER: _ClassVar[int]
    pnJID: str
    lidJID: str
    def __init__(self, pnJID: _Optional[str] = ..., lidJID: _Optional[str] = ...) -> None: ...

class WebMessageInfo(_message.Message):
    __slots__ = ("key", "message", "messageTimestamp", "status", "participant", "messageC2STimestamp", "ignore", "starred", "broadcast", "pushName", "mediaCiphertextSHA256", "multicast", "messageStubType", "messageStubParameters", "messageSecret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGETIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARTICIPANT_FIELD_NUMBER: _ClassVar[int]
    MESSAGEC2STIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    IGNORE_FIELD_NUMBER: _ClassVar[int]
    STARRED_FIELD_NUMBER: _ClassVar[int]
    BROADCAST_FIELD_NUMBER: _ClassVar[int]
    PUSHNAME_FIELD_NUMBER: _ClassVar[int]
    MEDIACIPHERTEXTSHA256_FIELD_NUMBER: _ClassVar[int]
    MULTICAST_FIELD_NUMBER: _ClassVar[int]
    MESSAGESTUBTYPE_FIELD_NUMBER: _ClassVar[int]
    MESSAGESTUBPARAMETERS_FIELD_NUMBER: _ClassVar[int]
    MESSAGESECRET_FIELD_NUMBER: _ClassVar[int]
    key: _common_pb2.MessageKey
    message: _e2e_pb2.Message
    messageTimestamp: int
    status: int
    participant: str
    messageC2STimestamp: int
    ignore: bool
    starred: bool
    broadcast: bool
    pushName: str
    mediaCiphertextSHA256: bytes
    multicast: bool
    messageStubType: int
    messageStubParameters: _containers.RepeatedScalarFieldContainer[str]
    messageSecret: bytes
    def __init__(self, key: _Optional[_Union[_common_pb2.MessageKey, _Mapping]] = ..., message: _Optional[_Union[_e2e_pb2.Message, _Mapping]] = ..., messageTimestamp: _Optional[int] = ..., status: _Optional[int] = ..., participant: _Optional[str] = ..., messageC2STimestamp: _Optional[int] = ..., ignore: _Optional[bool] = ..., starred: _Optional[bool] = ..., broadcast: _Optional[bool] = ..., pushName: _Optional[str] = ..., mediaCiphertextSHA256: _Optional[bytes] = ..., multicast: _Optional[bool] = ..., messageStubType: _Optional[int] = ..., messageStubParameters: _Optional[_Iterable[str]] = ..., messageSecret: _Optional[bytes] = ...) -> None: ...

class LIDMigrationMapping(_message.Message):
    __slots__ = ("pn", "assignedLid", "latestLid")
    PN_FIELD_NUMBER: _ClassVar[int]
    ASSIGNEDLID_FIELD_NUMBER: _ClassVar[int]
    LATESTLID_FIELD_NUMBER: _ClassVar[int]
    pn: int
    assignedLid: int
    latestLid: int
    def __init__(self, pn: _Optional[int] = ..., assignedLid: _Optional[int] = ..., latestLid: _Optional[int] = ...) -> None: ...

class LIDMigrationMappingSyncPayload(_message.Message):
    __slots__ = ("pnToLidMappings", "chatDbMigrationTimestamp")
    PNTOLIDMAPPINGS_FIELD_NUMBER: _ClassVar[int]
    CHATDBMIGRATIONTIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    pnToLidMappings: _containers.RepeatedCompositeFieldContainer[LIDMigrationMapping]
    chatDbMigrationTimestamp: int
    def __init__(self, pnToLidMappings: _Optional[_Iterable[_Union[LIDMigrationMapping, _Mapping]]] = ..., chatDbMigrationTimestamp: _Optional[int] = ...) -> None: ...
