"""Mirror mode's stale members, counted into the plan instead of removed."""

from __future__ import annotations

from collections.abc import Mapping

from target_sendgrid.lifecycle.failures import MirrorStopped
from target_sendgrid.planning.plan import Plan
from target_sendgrid.sync.stale_members import Judged


class PlannedLeavers:
    """The :class:`~target_sendgrid.sync.stale_members.Leavers` of a plan: every list counted, then the stop."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def take(self, judged: Mapping[str, Judged], stops: Mapping[str, str | None], why: str) -> dict[str, int]:
        """Count the members that would leave each list (the safety stop noted per list), then fail as the run would."""
        removed = {list_id: self.plan.leave(list_id, j.leaving, bool(stops[list_id])) for list_id, j in judged.items()}
        for message in stops.values():
            if message:
                raise MirrorStopped(message)
        return removed
