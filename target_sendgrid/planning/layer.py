"""The plan layer: what a plan run hands the real run's code in the place of writing.

The real run is wired once (``wiring.py``); for a plan it is handed, instead of the real
collaborators, the ones built here: :class:`~target_sendgrid.planning.stand_ins.StandIns` as its
creator, a :class:`~target_sendgrid.planning.planned_delivery.PlanDelivery` as the exporter's
delivery, :class:`~target_sendgrid.planning.leavers.PlannedLeavers` as mirror's leavers, and
:class:`PlanLayer` as the reader of SendGrid's copy and as the run's ending.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.planning.leavers import PlannedLeavers
from target_sendgrid.planning.plan import Plan
from target_sendgrid.planning.planned_delivery import PlanDelivery
from target_sendgrid.planning.stand_ins import StandIns
from target_sendgrid.report import RunReport
from target_sendgrid.sendgrid.api_errors import SendGridError
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.sync.unchanged import MAX_LISTS, SendGridCopy

logger = logging.getLogger(__name__)


class PlanLayer:
    """A plan's collaborators, and the plan itself: what the run reads into it, and how it ends."""

    label = "Plan"  # the log's name for it, as a reader of SendGrid's copy
    dry = True  # nothing is written: the summary counts what would be exported

    def __init__(self, plan: Plan, client: SendGridClient, report: RunReport) -> None:
        """``client`` is read-only (a plan's): the delivery only looks contacts up."""
        self.plan = plan
        self.report = report
        self.delivery = PlanDelivery(client, report, plan)
        self.leavers = PlannedLeavers(plan)

    # --- as a reader of SendGrid's copy (sync/unchanged.py's CopyUser) ---------------------

    def unreadable(self, exc: Exception) -> Exception:
        """A plan cannot count without the lists' members: the run fails."""
        return SendGridError(
            f"A plan needs the target lists' current members, and they could not be read ({type(exc).__name__}: "
            f"{exc}); no plan was made"
        )

    def read(self, copy: SendGridCopy) -> None:
        """The lists' members as SendGrid has them: which contacts exist, and in which lists."""
        self.plan.membership = copy.lists_of

    # --- as the run's ending (run.py's Ending) ---------------------------------------------

    def add_to(self, summary: dict[str, Any]) -> None:
        """The plan object of the summary."""
        summary["plan"] = self.plan.summary(self.report.unchanged_per_list)

    def lines(self, outcome: str, summary: dict[str, Any]) -> list[str]:
        """What a real run would change, list by list, then the summary: nothing was written."""
        return [
            *self.plan.lines(self.report.unchanged_per_list),
            f"Plan {outcome} (nothing was written to SendGrid, no STATE): {json.dumps(summary)}",
        ]

    def close(self) -> None:
        """Close the plan file."""
        self.plan.close()


def plan_layer(
    path: str | None, report: RunReport, client: SendGridClient, stand_ins: StandIns, router: ListRouter
) -> PlanLayer:
    """The plan over the lists and fields resolved at start (``stand_ins``: what would be created)."""
    if len(router.all_lists) > MAX_LISTS:
        raise ConfigValidationError(
            "too many lists for a plan",
            errors=[f"A plan counts at most {MAX_LISTS} lists; this run manages {len(router.all_lists)}."],
        )
    plan = Plan(
        path,
        report.run_id,
        names=router.names,
        new_lists={i: router.names.get(i, name) for i, name in stand_ins.lists.items() if i in router.all_lists},
        new_fields=stand_ins.fields,  # the same list: fields noted later (the stamp) are in it
        lists=router.all_lists,
    )
    return PlanLayer(plan, client, report)
