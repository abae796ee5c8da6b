"""Trust-token issuing: `<iq xmlns="privacy" type="set"><tokens><token jid t type="trusted_contact"/>…`.

The client side is whatsmeow `tctoken.go` issuePrivacyToken and Baileys `src/Socket/messages-send.ts`
issuePrivacyTokens. Each token is recorded and pushed to its recipient's companions (tokens.py); the answer
is an empty result. The other privacy IQ (`type="get"`, the settings) and the AB props are account_iqs.py.
"""

from __future__ import annotations

from whatsapp.binary import Node
from whatsapp.testing.delivery import deliver
from whatsapp.testing.dispatch import HandlerContext, Handlers
from whatsapp.testing.tokens import issue


def install(handlers: Handlers) -> None:
    handlers.iq("privacy", "set", "tokens")(issue_tokens)


async def issue_tokens(context: HandlerContext, iq: Node) -> None:
    device = context.logged_in()
    await deliver(issue(context.state, device.account, iq))
