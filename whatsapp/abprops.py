"""Server AB props: the switches the server flips per account, fetched after every login.

`<iq xmlns="abt" type="get"><props protocol="1"/></iq>` answers `<props [hash]><prop config_code|name
config_value|value/>…</props>` (Baileys `src/Socket/chats.ts` fetchProps). A prop is known by its numeric
code or its name. We honour the ones that gate what this client does (docs/protocol.md §Trust tokens):

| prop | gates | default |
| --- | --- | --- |
| 10518 `privacy_token_sending_on_all_1_on_1_messages` | `<tctoken>` on 1:1 messages | on (Baileys) |
| 14303 `lid_trusted_token_issue_to_lid` | issue our token to the LID (else the phone number) | LID (whatsmeow) |
| `tctoken_duration`, `tctoken_num_buckets` | the token validity window | 7 days, 4 (whatsmeow `tctoken.go`) |

Until a fetch succeeds (or when it fails) the defaults hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loguru import logger

from whatsapp.binary import Node
from whatsapp.context import Context
from whatsapp.jid import SERVER_JID
from whatsapp.tctoken import BUCKET_COUNT, BUCKET_SECONDS, TokenWindow


@dataclass(frozen=True, slots=True)
class Prop:
    code: str | None
    name: str


PRIVACY_TOKEN_ON_1TO1 = Prop("10518", "privacy_token_sending_on_all_1_on_1_messages")
ISSUE_TOKEN_TO_LID = Prop("14303", "lid_trusted_token_issue_to_lid")
TCTOKEN_DURATION = Prop(None, "tctoken_duration")
TCTOKEN_NUM_BUCKETS = Prop(None, "tctoken_num_buckets")
_TRUE = ("true", "1")


def props_iq() -> Node:
    return Node("iq", {"xmlns": "abt", "type": "get", "to": SERVER_JID}, [Node("props", {"protocol": "1"})])


def parse_props(answer: Node) -> dict[str, str]:
    """code-or-name → value of every `<prop>` (Baileys reduceBinaryNodeToDictionary)."""
    props = answer.child("props")
    found: dict[str, str] = {}
    for prop in props.children_by_tag("prop") if props is not None else []:
        key = prop.attr_str("name") or prop.attr_str("config_code")
        value = prop.attr_str("value") or prop.attr_str("config_value")
        if key and value is not None:
            found[key] = value
    return found


@dataclass(slots=True)
class ServerProps:
    """The props of the current login, read by the concerns they gate."""

    values: dict[str, str] = field(default_factory=dict)

    def _raw(self, prop: Prop) -> str | None:
        if prop.code is not None and prop.code in self.values:
            return self.values[prop.code]
        return self.values.get(prop.name)

    def flag(self, prop: Prop, default: bool) -> bool:
        raw = self._raw(prop)
        return default if raw is None else raw.lower() in _TRUE

    def number(self, prop: Prop, default: int) -> int:
        raw = self._raw(prop)
        return int(raw) if raw is not None and raw.isdigit() and int(raw) > 0 else default

    @property
    def tctoken_on_1to1(self) -> bool:
        return self.flag(PRIVACY_TOKEN_ON_1TO1, True)

    @property
    def issue_token_to_lid(self) -> bool:
        return self.flag(ISSUE_TOKEN_TO_LID, True)

    @property
    def token_window(self) -> TokenWindow:
        duration = self.number(TCTOKEN_DURATION, BUCKET_SECONDS)
        return TokenWindow(duration, self.number(TCTOKEN_NUM_BUCKETS, BUCKET_COUNT))


async def fetch_props(ctx: Context, props: ServerProps) -> None:
    """Ask for the props of this login and keep them (the previous ones stay when the answer is unreadable)."""
    values = parse_props(await ctx.query(props_iq()))
    props.values = values
    logger.debug("server props: {} known; tctoken on 1:1 {}, issue to LID {}", len(values), props.tctoken_on_1to1,
                 props.issue_token_to_lid)
