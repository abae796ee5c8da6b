"""Messages that claim to come from our own account: from this very device they are forged, from our other
devices they must name a device our account has.

The server fans our own sends out to our OTHER devices only, so a `<message>` whose author is this
device (a forged pkmsg, or a DeviceSentMessage we never sent) is refused. One from another device of
ours is checked against our device list as cached in `KeyType.DEVICE_LIST` (whatsapp/devices.py) while
the cache is fresh: the receiver runs on the reader and must not wait for a usync answer it would read
itself, so without a fresh list the message is accepted, as whatsmeow does for an unknown own device.
"""

from __future__ import annotations

from whatsapp.auth import AuthState, KeyType
from whatsapp.envelope import Envelope
from whatsapp.jid import JID
from whatsapp.usync import DeviceList


async def own_device_refusal(auth: AuthState, env: Envelope, me_pn: JID, me_lid: JID | None) -> str | None:
    """Why the message must be refused (one line for the log), or None."""
    sender = env.sender
    own = {me_pn.user: me_pn} | ({me_lid.user: me_lid} if me_lid else {})
    mine = own.get(sender.user)
    if mine is None:
        return None
    if sender.device == me_pn.device:
        return f"claims to come from this device ({sender})"
    user = JID(sender.user, sender.server)
    raw = (await auth.get(KeyType.DEVICE_LIST, [str(user)])).get(str(user))
    listed = DeviceList.from_bytes(user, raw) if raw is not None else None
    if listed is not None and listed.fresh() and sender.device not in listed.devices and sender.device != 0:
        return f"names device {sender.device} of our account, which our device list does not have"
    return None
