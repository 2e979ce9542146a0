"""The narrow interfaces hold: the run is what a sink asks of it, the target what a sink asks of its owner,
and each seam has a real implementation and a plan's. mypy checks the assignments; the test runs them."""

from __future__ import annotations

from target_sendgrid.contacts.creation import Creator, SendGridCreator
from target_sendgrid.planning.layer import PlanLayer
from target_sendgrid.planning.leavers import PlannedLeavers
from target_sendgrid.planning.stand_ins import StandIns
from target_sendgrid.run import Ending, ExportEnding, ExportRun
from target_sendgrid.sinks import ContactRun, RunOwner
from target_sendgrid.sync.stale_members import Leavers, RemoveFromLists
from target_sendgrid.sync.unchanged import CopyUser
from target_sendgrid.target import TargetSendGrid

DRY_RUN = {"api_key": "SG.unused", "data_privacy_consent": True, "list_name": "VIP", "dry_run": True}


def as_contact_run(run: ExportRun) -> ContactRun:
    return run


def as_owner(target: TargetSendGrid) -> RunOwner:
    return target


def seams(
    real_creator: SendGridCreator,
    stand_ins: StandIns,
    real_leavers: RemoveFromLists,
    plan_leavers: PlannedLeavers,
    real_ending: ExportEnding,
    plan: PlanLayer,
) -> tuple[Creator, Creator, Leavers, Leavers, Ending, Ending, CopyUser]:
    """Never called: mypy checks that each real seam and each of the plan's fits its protocol."""
    return real_creator, stand_ins, real_leavers, plan_leavers, real_ending, plan, plan


def test_a_dry_run_target_is_what_its_sinks_ask_and_its_run_ends_saying_where_the_contacts_went() -> None:
    target = TargetSendGrid(config=DRY_RUN)
    target.start()  # what listen does first
    owner = as_owner(target)
    assert as_contact_run(target.run).all_lists == ("VIP",)
    assert owner.settings.dry_run and owner.report is target.run.report
    lines = target.run.end("finished")
    assert lines[0].startswith("Contacts that would be exported (dry run, nothing was sent): none.")
    assert lines[-1].startswith("Export finished (dry run): {")
