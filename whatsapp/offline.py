"""The offline backlog of one login, as a state machine: waiting for the end marker, or done. Pure.

After a login the server delivers what was queued while we were away, then says so with
`<ib><offline count=N/>` (docs/protocol.md §Offline backlog). The marker can go missing (Baileys
#2810), so a deadline ends the wait too. `OfflineBacklog` decides which `OfflineSyncCompleted`
event each of these produces; the timer is the caller's (whatsapp/upkeep.py, on the context's clock).
"""

from __future__ import annotations

from enum import StrEnum

from whatsapp.events import OfflineSyncCompleted


class BacklogState(StrEnum):
    IDLE = "idle"  # not logged in yet
    WAITING = "waiting"  # logged in; the backlog is still arriving
    DONE = "done"  # the marker came, or the deadline passed


class OfflineBacklog:
    def __init__(self) -> None:
        self.state = BacklogState.IDLE

    def start(self) -> None:
        """A login: the backlog starts arriving (the caller arms the deadline)."""
        self.state = BacklogState.WAITING

    @property
    def done(self) -> bool:
        return self.state is BacklogState.DONE

    def on_marker(self, count: int) -> OfflineSyncCompleted:
        """`<offline count>`: the backlog is complete. Reported even after a timeout: the count is real."""
        self.state = BacklogState.DONE
        return OfflineSyncCompleted(count)

    def expire(self) -> OfflineSyncCompleted | None:
        """The deadline passed: the timed-out event if we were still waiting, else None."""
        if self.state is not BacklogState.WAITING:
            return None
        self.state = BacklogState.DONE
        return OfflineSyncCompleted(0, timed_out=True)
