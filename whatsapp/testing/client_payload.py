"""Reading the ClientPayload a client sends in its Noise clientFinish: a registration or a login.

The server's side of docs/protocol.md §Client payload, written from the protobuf (`whatsapp/proto/wa6.proto`
ClientPayload, `companion_reg.proto` DeviceProps) and the field layout whatsmeow `store/clientpayload.go`
and Baileys `src/Utils/validate-connection.ts` fill in; independent of the client's builder
(`whatsapp/payload.py`), so a field both read wrong would not slip through.

A registration carries `devicePairingData`: the registration id (4 bytes big-endian), key type 0x05,
the raw identity key, the signed prekey id (3 bytes), key and XEdDSA signature (over 0x05 ‖ key) and
the serialized DeviceProps. A login carries `username` (the phone number) and `device`.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from whatsapp import xeddsa
from whatsapp.errors import DecodeError
from whatsapp.proto import companion_reg_pb2, wa6_pb2

ClientPayload = wa6_pb2.ClientPayload
DeviceProps = companion_reg_pb2.DeviceProps


@dataclass(frozen=True, slots=True)
class RegistrationData:
    registration_id: int
    identity_public: bytes  # raw 32 bytes
    signed_prekey_id: int
    signed_prekey_public: bytes  # raw 32 bytes
    signed_prekey_signature: bytes  # 64 bytes
    build_hash: bytes
    device_props: DeviceProps

    def signed_prekey_valid(self) -> bool:
        """The signature must verify under the identity key over the key *with* its 0x05 type byte, as
        libsignal signs it (libsignal-node `src/keyhelper.js` generateSignedPreKey)."""
        return xeddsa.verify(self.identity_public, b"\x05" + self.signed_prekey_public, self.signed_prekey_signature)


@dataclass(frozen=True, slots=True)
class ParsedClientPayload:
    payload: ClientPayload
    registration: RegistrationData | None  # set for a registration payload
    username: int | None  # the phone number, set for a login payload
    device: int | None

    @property
    def is_registration(self) -> bool:
        return self.registration is not None

    @property
    def version(self) -> tuple[int, int, int]:
        app = self.payload.userAgent.appVersion
        return (app.primary, app.secondary, app.tertiary)

    @property
    def push_name(self) -> str | None:
        return self.payload.pushName if self.payload.HasField("pushName") else None

    @property
    def passive(self) -> bool:
        return self.payload.passive


def _exactly(value: bytes, size: int, field: str) -> bytes:
    if len(value) != size:
        raise DecodeError(f"ClientPayload devicePairingData.{field}: {len(value)} bytes where {size} are required")
    return value


def _registration(pairing: ClientPayload.DevicePairingRegistrationData) -> RegistrationData:
    if _exactly(pairing.eKeytype, 1, "eKeytype") != b"\x05":
        raise DecodeError(f"ClientPayload devicePairingData.eKeytype is {pairing.eKeytype.hex()}, not 05 (DJB)")
    props = DeviceProps()
    try:
        props.ParseFromString(pairing.deviceProps)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"ClientPayload devicePairingData.deviceProps does not parse: {exc}") from None
    return RegistrationData(
        registration_id=int.from_bytes(_exactly(pairing.eRegid, 4, "eRegid"), "big"),
        identity_public=_exactly(pairing.eIdent, 32, "eIdent"),
        signed_prekey_id=int.from_bytes(_exactly(pairing.eSkeyID, 3, "eSkeyID"), "big"),
        signed_prekey_public=_exactly(pairing.eSkeyVal, 32, "eSkeyVal"),
        signed_prekey_signature=_exactly(pairing.eSkeySig, 64, "eSkeySig"),
        build_hash=pairing.buildHash,
        device_props=props,
    )


def parse_client_payload(data: bytes) -> ParsedClientPayload:
    """A registration or a login; DecodeError names what is malformed."""
    payload = ClientPayload()
    try:
        payload.ParseFromString(data)
    except ProtobufDecodeError as exc:
        raise DecodeError(f"ClientPayload does not parse: {exc}") from None
    if payload.HasField("devicePairingData"):
        return ParsedClientPayload(payload, _registration(payload.devicePairingData), None, None)
    if payload.HasField("username"):
        return ParsedClientPayload(payload, None, payload.username, payload.device if payload.HasField("device") else 0)
    raise DecodeError("ClientPayload is neither a registration (devicePairingData) nor a login (username)")
