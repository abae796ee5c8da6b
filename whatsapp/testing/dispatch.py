"""How stanza handlers plug into the emulated server.

The core (server.py) owns the connection lifecycle: handshake, registration, pairing, login, prekey
count/upload, pings, passive/active, faults. Everything else (usync, prekey bundles, message fan-out,
receipts, groups, offline delivery) is registered here by the routing module:

    # whatsapp/testing/routing.py (or a package whatsapp/testing/routing/) defines
    def install(handlers: Handlers) -> None:
        @handlers.iq("usync")
        async def usync(ctx: HandlerContext, iq: Node) -> Node | list[Node] | None: ...

        @handlers.stanza("message")
        async def message(ctx: HandlerContext, node: Node) -> None: ...

        @handlers.on_login
        async def deliver_offline(ctx: HandlerContext) -> int: ...  # number of stanzas delivered

`EmulatedServer` imports every module named in PLUGIN_MODULES that exists and calls its `install`.

IQ handler contract: return the children of the `<iq type="result">` reply (a Node, a list, or None for
an empty result); the server adds id/from/type. Return a Node whose tag is "iq" to send it verbatim
instead. Raise `IQError(code, text)` for an `<iq type="error"><error code text/></iq>`.
Stanza handlers (message, receipt, ack, presence, notification, chatstate, call, ib, ...) send whatever
they like through `ctx.connection.send_node` / `ctx.server.send_to(device, node)` and return nothing.
Login hooks run after `<success>` and before `<ib><offline count=N/>`; N is the sum of what they return.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from whatsapp.binary import Node
    from whatsapp.testing.connection import ClientConnection
    from whatsapp.testing.server import EmulatedServer
    from whatsapp.testing.state import Account, Device, ServerState

# Modules whose `install(handlers)` the server calls at start; a missing one is skipped.
PLUGIN_MODULES: tuple[str, ...] = ("whatsapp.testing.routing",)


class IQError(Exception):
    """Raised by an IQ handler to answer `<iq type="error"><error code=.. text=../></iq>`."""

    def __init__(self, code: int | str, text: str) -> None:
        self.code = str(code)
        self.text = text
        super().__init__(f"{code} {text}")


@dataclass(slots=True)
class HandlerContext:
    server: EmulatedServer
    connection: ClientConnection

    @property
    def state(self) -> ServerState:
        return self.server.state

    @property
    def device(self) -> Device | None:
        """The logged-in device of this connection (None while registering)."""
        return self.connection.device

    @property
    def account(self) -> Account | None:
        return self.connection.device.account if self.connection.device else None


IQHandler = Callable[[HandlerContext, "Node"], Awaitable[Any]]
StanzaHandler = Callable[[HandlerContext, "Node"], Awaitable[None]]
LoginHook = Callable[[HandlerContext], Awaitable[int | None]]
CloseHook = Callable[[HandlerContext], Awaitable[None]]


class Handlers:
    """The registry. Later registrations for the same key replace earlier ones (tests may override)."""

    def __init__(self) -> None:
        # (xmlns, type or None, first child tag or None) -> handler; the most specific match wins.
        self.iq_handlers: dict[tuple[str, str | None, str | None], IQHandler] = {}
        self.stanza_handlers: dict[str, StanzaHandler] = {}
        self.login_hooks: list[LoginHook] = []
        self.close_hooks: list[CloseHook] = []

    def iq(self, xmlns: str, type: str | None = None, child: str | None = None) -> Callable[[IQHandler], IQHandler]:
        def register(handler: IQHandler) -> IQHandler:
            self.iq_handlers[(xmlns, type, child)] = handler
            return handler

        return register

    def stanza(self, tag: str) -> Callable[[StanzaHandler], StanzaHandler]:
        def register(handler: StanzaHandler) -> StanzaHandler:
            self.stanza_handlers[tag] = handler
            return handler

        return register

    def on_login(self, hook: LoginHook) -> LoginHook:
        self.login_hooks.append(hook)
        return hook

    def on_close(self, hook: CloseHook) -> CloseHook:
        self.close_hooks.append(hook)
        return hook

    def find_iq(self, xmlns: str, type: str, child: str | None) -> IQHandler | None:
        for key in ((xmlns, type, child), (xmlns, type, None), (xmlns, None, child), (xmlns, None, None)):
            handler = self.iq_handlers.get(key)
            if handler is not None:
                return handler
        return None
