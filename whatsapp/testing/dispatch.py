"""The stanza router of the emulated server: a table from (tag) or (xmlns, type, first child) to handler.

Every concern module registers its handlers on the server's `Handlers` (prekeys.py, upkeep.py,
pairing.py, messaging.py); tests may register more, and a later registration for the same key replaces
the earlier one:

    @server.handlers.iq("usync")
    async def usync(ctx: HandlerContext, iq: Node) -> Node | list[Node] | None: ...

    @server.handlers.stanza("message")
    async def message(ctx: HandlerContext, node: Node) -> None: ...

    @server.handlers.on_login
    async def deliver_offline(ctx: HandlerContext) -> int: ...  # number of stanzas delivered

IQ handler contract: return the children of the `<iq type="result">` reply (a Node, a list, or None for
an empty result); the router adds id/from/type. Return a Node whose tag is "iq" to send it verbatim
instead. Raise `IQError(code, text)` for an `<iq type="error"><error code text/></iq>`; an IQ no handler takes
is answered `<error code="501" text="feature-not-implemented"/>` and reported (strict.py), as is
`IQError(501, ..., what=...)` from a handler that met an operation it does not model.
Stanza handlers send whatever they like through `ctx.connection.send_node` and return nothing.
Login hooks run after `<success>` and before `<ib><offline count=N/>`; N is the sum of what they return.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from loguru import logger

from whatsapp.binary import Node
from whatsapp.jid import SERVER_JID
from whatsapp.testing import strict
from whatsapp.testing.connection import ClientConnection
from whatsapp.testing.errors import IQError
from whatsapp.testing.state import Account, Device, ServerState


class _Answered:
    """Returned by a handler that sent the IQ's answer itself (it must act after the answer left)."""


ANSWERED = _Answered()
IQResult = Node | Sequence[Node] | _Answered | None


@dataclass(slots=True)
class HandlerContext:
    """What a handler gets: the server's state and the connection the stanza came in on."""

    state: ServerState
    connection: ClientConnection

    @property
    def device(self) -> Device | None:
        """The logged-in device of this connection (None while registering)."""
        return self.connection.device

    @property
    def account(self) -> Account | None:
        return self.connection.device.account if self.connection.device else None

    def logged_in(self) -> Device:
        """The device, or IQError 401 for a connection that has not logged in."""
        if self.connection.device is None:
            raise IQError(401, "not-authorized")
        return self.connection.device


IQHandler = Callable[[HandlerContext, Node], Awaitable[IQResult]]
StanzaHandler = Callable[[HandlerContext, Node], Awaitable[None]]
LoginHook = Callable[[HandlerContext], Awaitable[int | None]]
CloseHook = Callable[[HandlerContext], Awaitable[None]]
IQKey = tuple[str, str | None, str | None]


class Handlers:
    """The registry. Later registrations for the same key replace earlier ones (tests may override)."""

    def __init__(self) -> None:
        # (xmlns, type or None, first child tag or None) -> handler; the most specific match wins.
        self.iq_handlers: dict[IQKey, IQHandler] = {}
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

    # -- routing one stanza ---------------------------------------------------------------------

    async def dispatch(self, context: HandlerContext, node: Node) -> None:
        """Hand one client stanza to its handler; what no handler models is answered as the real server
        answers it and reported (strict.py), a failing handler is answered 500 and reported, never fatal."""
        connection = context.connection
        if node.tag == "iq":
            iq_type = node.attr_str("type") or ""
            if iq_type in ("result", "error"):
                if not connection.resolve_reply(node):
                    strict.report(context.state, strict.UNMODELLED, "reply",
                                  f"iq {iq_type} id={node.attr_str('id')} answers nothing the server asked",
                                  node=node, connection=connection)
                return
            await self._answer_iq(context, node, iq_type)
            return
        handler = self.stanza_handlers.get(node.tag)
        if handler is None:
            strict.report(context.state, strict.UNMODELLED, "stanza", f"no handler for <{node.tag}>", node=node,
                          connection=connection)
            return
        try:
            await handler(context, node)
        except Exception as exc:
            logger.exception("emulator: handler for <{}> failed: {}", node.tag, exc)
            strict.report(context.state, strict.UNMODELLED, "handler-error", f"<{node.tag}>: {exc!r}", node=node,
                          connection=connection)
            # The client waits for the ack of what it sent: tell it the server failed, as WhatsApp does with
            # an ack carrying the error (docs/protocol.md §Stanzas and acks).
            if node.attrs.get("id") is not None:
                await connection.send_node(Node("ack", {"class": node.tag, "id": node.attrs["id"], "error": "500"}))

    async def _answer_iq(self, context: HandlerContext, node: Node, iq_type: str) -> None:
        iq_id = node.attr_str("id") or ""
        xmlns = node.attr_str("xmlns") or ""
        children = node.children
        first = children[0].tag if children else None
        if not iq_id or iq_type not in ("get", "set"):
            # XMPP (RFC 6120 §8.2.3): a request needs an id and a type of get or set.
            await context.connection.send_node(iq_error(iq_id, "400", "bad-request"))
            strict.report(context.state, strict.UNMODELLED, "iq", f"iq without id or with type {iq_type!r}",
                          node=node, connection=context.connection)
            return
        handler = self.find_iq(xmlns, iq_type, first)
        if handler is None:
            # WhatsApp answers an IQ it does not implement with XMPP's feature-not-implemented (501).
            await context.connection.send_node(iq_error(iq_id, "501", "feature-not-implemented"))
            strict.report(context.state, strict.UNMODELLED, "iq", f"xmlns={xmlns} type={iq_type} child={first}",
                          node=node, connection=context.connection)
            return
        try:
            result = await handler(context, node)
        except IQError as exc:
            await context.connection.send_node(iq_error(iq_id, exc.code, exc.text))
            if exc.code == "501":
                strict.report(context.state, strict.UNMODELLED, exc.what or "iq", exc.text, node=node,
                              connection=context.connection)
            return
        except Exception as exc:
            logger.exception("emulator: iq handler xmlns={} failed: {}", xmlns, exc)
            await context.connection.send_node(iq_error(iq_id, "500", "internal-server-error"))
            strict.report(context.state, strict.UNMODELLED, "handler-error", f"iq xmlns={xmlns}: {exc!r}",
                          node=node, connection=context.connection)
            return
        if isinstance(result, _Answered):
            return
        if isinstance(result, Node) and result.tag == "iq":
            await context.connection.send_node(result)
            return
        content = [result] if isinstance(result, Node) else (list(result) if result else None)
        await context.connection.send_node(iq_result(iq_id, content))


def iq_result(iq_id: str, content: list[Node] | None = None) -> Node:
    return Node("iq", {"id": iq_id, "type": "result", "from": SERVER_JID}, content)


def iq_error(iq_id: str, code: str, text: str) -> Node:
    return Node("iq", {"id": iq_id, "type": "error", "from": SERVER_JID}, [Node("error", {"code": code, "text": text})])
