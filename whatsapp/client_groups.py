"""The Client's methods for groups (docs/protocol.md §Groups): metadata, create, members, subject,
description, settings, invite links, joining and leaving.

One-line delegates to whatsapp/groups.py (the cached, merged metadata lookups) and whatsapp/group_admin.py
(the operations), kept apart from whatsapp/client.py so the facade stays one screenful per topic.
"""

from __future__ import annotations

from collections.abc import Iterable

from whatsapp.client_interactions import as_jid
from whatsapp.group_admin import GroupAdmin
from whatsapp.group_meta import GroupInfo, ParticipantResult
from whatsapp.groups import GroupDirectory
from whatsapp.jid import JID


class GroupMethods:
    """Mixed into `Client`, which sets these concerns up in its constructor."""

    _groups: GroupDirectory
    _group_admin: GroupAdmin

    async def group_metadata(self, jid: JID | str, *, refresh: bool = False) -> GroupInfo:
        """Members (with admin flags), owner, creation, description and settings; cached until the group
        changes (a `w:gp2` notification) or for five minutes. Concurrent calls share one request."""
        return await self._groups.info(as_jid(jid), refresh=refresh)

    async def joined_groups(self) -> list[GroupInfo]:
        return await self._group_admin.joined()

    async def create_group(self, subject: str, participants: Iterable[JID | str], *, announce: bool = False,
                           locked: bool = False, ephemeral: int = 0) -> GroupInfo:
        return await self._group_admin.create(subject, [as_jid(p) for p in participants], announce=announce,
                                              locked=locked, ephemeral=ephemeral)

    async def update_group_participants(self, group: JID | str, participants: Iterable[JID | str],
                                        action: str) -> list[ParticipantResult]:
        """`action`: "add", "remove", "promote" or "demote"; one result per member (`.ok`, `.status`, and
        `.invite` when an add was refused by the member's privacy settings)."""
        return await self._group_admin.participants(as_jid(group), [as_jid(p) for p in participants], action)

    async def add_group_participants(self, group: JID | str, participants: Iterable[JID | str]
                                     ) -> list[ParticipantResult]:
        return await self.update_group_participants(group, participants, "add")

    async def remove_group_participants(self, group: JID | str, participants: Iterable[JID | str]
                                        ) -> list[ParticipantResult]:
        return await self.update_group_participants(group, participants, "remove")

    async def promote_group_participants(self, group: JID | str, participants: Iterable[JID | str]
                                         ) -> list[ParticipantResult]:
        return await self.update_group_participants(group, participants, "promote")

    async def demote_group_participants(self, group: JID | str, participants: Iterable[JID | str]
                                        ) -> list[ParticipantResult]:
        return await self.update_group_participants(group, participants, "demote")

    async def set_group_subject(self, group: JID | str, subject: str) -> None:
        await self._group_admin.set_subject(as_jid(group), subject)

    async def set_group_description(self, group: JID | str, text: str) -> None:
        """Set the description ("" clears it)."""
        await self._group_admin.set_description(as_jid(group), text)

    async def set_group_announce(self, group: JID | str, announce: bool) -> None:
        """True: only admins may send."""
        await self._group_admin.set_announce(as_jid(group), announce)

    async def set_group_locked(self, group: JID | str, locked: bool) -> None:
        """True: only admins may edit the group info."""
        await self._group_admin.set_locked(as_jid(group), locked)

    async def set_group_ephemeral(self, group: JID | str, seconds: int) -> None:
        await self._group_admin.set_ephemeral(as_jid(group), seconds)

    async def group_invite_link(self, group: JID | str, *, revoke: bool = False) -> str:
        """`https://chat.whatsapp.com/CODE`; `revoke=True` makes a new one and kills the old."""
        return await self._group_admin.invite_link(as_jid(group), revoke=revoke)

    async def join_group(self, link_or_code: str) -> JID:
        return await self._group_admin.join(link_or_code)

    async def accept_group_invite(self, group: JID | str, inviter: JID | str, code: str, expiration: int) -> None:
        """Join by a received GroupInviteMessage (its groupJid, the sender, inviteCode, inviteExpiration)."""
        await self._group_admin.accept_invite(as_jid(group), as_jid(inviter), code, expiration)

    async def leave_group(self, group: JID | str) -> None:
        await self._group_admin.leave(as_jid(group))
