"""The ClientPayload sent inside the Noise ClientFinish: registration (new device) and login (paired device).

See docs/protocol.md §Client payload.

Sans-I/O: builders turn `Credentials` + `DeviceConfig` into a `wa6_pb2.ClientPayload`. Reading one back is
the server's job: the emulator has its own parser (whatsapp/testing/client_payload.py).
Field choices follow Baileys 7's `generateRegistrationNode` / `generateLoginNode` so that the server sees the
same thing from us as from a Baileys client configured the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import cast

from whatsapp.creds import Credentials
from whatsapp.errors import EncodeError
from whatsapp.jid import JID
from whatsapp.key_nodes import encode_key_id, encode_registration_id
from whatsapp.keys import DJB_TYPE
from whatsapp.proto import companion_reg_pb2, wa6_pb2

ClientPayload = wa6_pb2.ClientPayload
DeviceProps = companion_reg_pb2.DeviceProps

# WA Web's client_revision the version triple ends with; the server answers 405 to builds that are too old.
# The newest build we could establish (whatsmeow `store/clientpayload.go`, 2026-08-20); at run time the
# client renews it by itself (whatsapp/version.py, docs/protocol.md §Version renewal).
DEFAULT_VERSION: tuple[int, int, int] = (2, 3000, 1045649367)

# Companion web client types, as put in the QR string and in companion_platform_id (Baileys 7 / whatsmeow).
WEB_CLIENT_TYPES: dict[str, str] = {
    "Chrome": "1",
    "Edge": "2",
    "Firefox": "3",
    "IE": "4",
    "Opera": "5",
    "Safari": "6",
}
WEB_CLIENT_ELECTRON = "7"
WEB_CLIENT_UWP = "8"
WEB_CLIENT_OTHER = "9"

# webSubPlatform for a native desktop app that syncs full history (Baileys' choice).
_DESKTOP_SUB_PLATFORMS = {
    "Mac OS": ClientPayload.WebInfo.DARWIN,
    "Windows": ClientPayload.WebInfo.WIN32,
}


def _default_history_sync_config() -> DeviceProps.HistorySyncConfig:
    # The set Baileys 7 advertises, explicit `false`s included, so the phone treats us like a Baileys client.
    return DeviceProps.HistorySyncConfig(
        storageQuotaMb=10240,
        inlineInitialPayloadInE2EeMsg=True,
        supportCallLogHistory=False,
        supportBotUserAgentChatHistory=True,
        supportCagReactionsAndPolls=True,
        supportBizHostedMsg=True,
        supportRecentSyncChunkMessageCountTuning=True,
        supportHostedGroupMsg=True,
        supportFbidBotChatHistory=True,
        supportMessageAssociation=True,
        supportGroupHistory=False,
    )


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """How this companion presents itself. Defaults equal Baileys 7's (`Browsers.macOS('Chrome')`).

    `os_name` is what the phone lists under "Linked devices"; `browser` picks the platform type and the
    web client type; "Desktop" makes us a desktop app (Electron, or UWP on Windows).
    """

    version: tuple[int, int, int] = DEFAULT_VERSION
    os_name: str = "Mac OS"
    browser: str = "Chrome"
    os_version: str = "14.4.1"
    # DeviceProps.PlatformType; None derives it from `browser` the way Baileys does.
    platform_type: DeviceProps.PlatformType | None = None
    device_props_version: tuple[int, int, int] = (10, 15, 7)
    # Our push name override (the bot's WA_PUSH_NAME): sent with our presence (whatsapp/presence.py), never in
    # the ClientPayload, where neither reference client puts one.
    push_name: str | None = None
    country_code: str = "US"
    language: str = "en"
    # DeviceProps.requireFullSync: ask the phone for the whole history, not the recent chunks (whatsmeow's default
    # is false; a bot needs only the tokens, salt and mappings of the first chunks). The bot's HISTORY_SYNC=full.
    sync_full_history: bool = False
    history_sync_config: DeviceProps.HistorySyncConfig = field(default_factory=_default_history_sync_config)
    # Login-mode flags: passive=True/pull=True make the server hold the offline queue until we ask for it.
    login_passive: bool = True
    login_pull: bool = True
    lid_db_migrated: bool = False
    connect_type: ClientPayload.ConnectType = ClientPayload.WIFI_UNKNOWN
    connect_reason: ClientPayload.ConnectReason = ClientPayload.USER_ACTIVATED

    def __post_init__(self) -> None:
        if len(self.version) != 3 or not all(isinstance(v, int) and 0 <= v < 2**32 for v in self.version):
            raise EncodeError(f"version must be three unsigned 32-bit integers, got {self.version!r}")

    @property
    def is_android(self) -> bool:
        return "android" in self.browser.lower()

    @property
    def resolved_platform_type(self) -> DeviceProps.PlatformType:
        if self.platform_type is not None:
            return self.platform_type
        if self.browser.upper() == "ANDROID":
            return DeviceProps.ANDROID_PHONE
        try:
            # The stubs type EnumTypeWrapper.Value as a bare int; it is a member of this enum.
            return cast(DeviceProps.PlatformType, DeviceProps.PlatformType.Value(self.browser.upper()))
        except ValueError:
            return DeviceProps.CHROME

    @property
    def web_client_type(self) -> str:
        """The client type digit of the QR string and of `companion_platform_id` (Baileys 7's mapping)."""
        if self.browser == "Desktop":
            return WEB_CLIENT_UWP if self.os_name == "Windows" else WEB_CLIENT_ELECTRON
        return WEB_CLIENT_TYPES.get(self.browser, WEB_CLIENT_OTHER)

    @property
    def platform_display(self) -> str:
        """`companion_platform_display` for pairing-code linking: "Browser (OS)", e.g. "Chrome (Mac OS)"."""
        return f"{self.browser} ({self.os_name})"

    @property
    def version_string(self) -> str:
        return ".".join(str(v) for v in self.version)

    @property
    def build_hash(self) -> bytes:
        """MD5 of the dotted version string, sent as DevicePairingRegistrationData.buildHash."""
        return hashlib.md5(self.version_string.encode()).digest()


def _common_payload(config: DeviceConfig) -> ClientPayload:
    payload = ClientPayload(connectType=config.connect_type, connectReason=config.connect_reason)
    agent = payload.userAgent
    agent.platform = ClientPayload.UserAgent.ANDROID if config.is_android else ClientPayload.UserAgent.WEB
    agent.appVersion.primary, agent.appVersion.secondary, agent.appVersion.tertiary = config.version
    agent.mcc = "000"
    agent.mnc = "000"
    agent.osVersion = "0.1"
    agent.device = "Desktop"
    agent.osBuildNumber = "0.1"
    agent.releaseChannel = ClientPayload.UserAgent.RELEASE
    agent.localeLanguageIso6391 = config.language
    agent.localeCountryIso31661Alpha2 = config.country_code
    if not config.is_android:
        sub_platform = ClientPayload.WebInfo.WEB_BROWSER
        if config.sync_full_history and config.browser == "Desktop":
            sub_platform = _DESKTOP_SUB_PLATFORMS.get(config.os_name, sub_platform)
        payload.webInfo.webSubPlatform = sub_platform
    return payload


def build_device_props(config: DeviceConfig) -> DeviceProps:
    props = DeviceProps(
        os=config.os_name,
        platformType=config.resolved_platform_type,
        requireFullSync=config.sync_full_history,
    )
    props.version.primary, props.version.secondary, props.version.tertiary = config.device_props_version
    props.historySyncConfig.CopyFrom(config.history_sync_config)
    return props


def build_registration_payload(creds: Credentials, config: DeviceConfig) -> ClientPayload:
    """The payload of a device that is not paired yet: it carries the keys the phone will bind to."""
    payload = _common_payload(config)
    payload.passive = False
    payload.pull = False
    reg = payload.devicePairingData
    reg.eRegid = encode_registration_id(creds.registration_id)
    reg.eKeytype = bytes([DJB_TYPE])
    reg.eIdent = creds.identity_key.public
    reg.eSkeyID = encode_key_id(creds.signed_prekey.key_id)
    reg.eSkeyVal = creds.signed_prekey.key_pair.public
    reg.eSkeySig = creds.signed_prekey.signature
    reg.buildHash = config.build_hash
    reg.deviceProps = build_device_props(config).SerializeToString()
    return payload


def build_login_payload(creds: Credentials, config: DeviceConfig) -> ClientPayload:
    """The payload of a paired device: who we are (phone number + device id), nothing secret."""
    if creds.me_id is None:
        raise EncodeError("cannot build a login payload for credentials that were never paired (no me_id)")
    me = JID.parse(creds.me_id)
    if not me.user.isdigit():
        raise EncodeError(f"me_id {creds.me_id!r} has no phone-number user part")
    payload = _common_payload(config)
    payload.passive = config.login_passive
    payload.pull = config.login_pull
    payload.username = int(me.user)
    payload.device = me.device
    payload.lidDbMigrated = config.lid_db_migrated
    return payload


def build_client_payload(creds: Credentials, config: DeviceConfig) -> ClientPayload:
    """Login payload when the credentials are paired, registration payload otherwise."""
    return build_login_payload(creds, config) if creds.paired else build_registration_payload(creds, config)
