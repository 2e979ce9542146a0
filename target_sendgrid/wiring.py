"""The run's wiring, in one place: every collaborator built from the settings, before any input is read.

A real run and a plan (``plan: true``) are wired here and only here: a plan's client is
read-only, and the plan layer (``planning/``) hands in its creator, delivery, leavers, copy reader
and ending where a real run has SendGrid's. What is built is an :class:`~target_sendgrid.run.ExportRun`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, NamedTuple

from singer_sdk.exceptions import ConfigValidationError

from target_sendgrid.contacts.creation import Creator, SendGridCreator
from target_sendgrid.contacts.custom_fields import CustomFieldRegistry
from target_sendgrid.contacts.routing import ListRouter
from target_sendgrid.contacts.segments import SegmentFilter
from target_sendgrid.delivery.exporter import BatchDelivery, Exporter
from target_sendgrid.delivery.progress import Progress
from target_sendgrid.planning.layer import PlanLayer, plan_layer
from target_sendgrid.planning.plan import check_path
from target_sendgrid.planning.stand_ins import StandIns
from target_sendgrid.report import RunReport
from target_sendgrid.run import Ending, ExportEnding, ExportRun
from target_sendgrid.sendgrid.api_errors import AuthError, NotFound
from target_sendgrid.sendgrid.client import SendGridClient
from target_sendgrid.settings import Settings
from target_sendgrid.singer.cursor import RecordCursor
from target_sendgrid.sync.mirror import MirrorMode
from target_sendgrid.sync.stale_members import Leavers, RemoveFromLists
from target_sendgrid.sync.unchanged import CopyUser

logger = logging.getLogger(__name__)

WriteState = Callable[[dict[str, Any]], None]


class _Mode(NamedTuple):
    """What differs between a real run, a dry run and a plan: the collaborators that write, or stand in."""

    delivery: BatchDelivery | None  # None: the exporter sends through the client
    changes_sent: bool  # whether the run's changes reach SendGrid (mirror then judges the lists after them)
    leavers: Leavers | None  # None: a dry run removes nothing
    copy_user: CopyUser | None  # one that needs SendGrid's copy whatever skip_unchanged says
    ending: Ending


def start_run(
    settings: Settings, cursor: RecordCursor, write_state: WriteState, checkpoint: Callable[[], None]
) -> ExportRun:
    """Check the key, resolve custom fields and lists, and build the run (settings already checked).

    ``checkpoint`` raises when the run must stop; the exporter calls it while it waits.
    """
    # The files first: refusing a path needs no network (and no retries against an unreachable api_url).
    report = RunReport(settings.rejected_records_path)
    if settings.plan:
        check_path(settings.plan_path)
    client = None if settings.dry_run else _client(settings)
    if settings.dry_run or settings.plan:
        write_state = _no_state  # nothing was sent, so nothing is settled: no STATE may say it was
    if client is not None:
        _check_scopes(client)
    stand_ins = StandIns() if settings.plan else None  # a plan creates nothing: it names what it would
    creator: Creator | None = stand_ins or (SendGridCreator(client) if client is not None else None)
    custom_fields = _custom_fields(settings, client, creator)
    router = _router(settings, client, creator)
    if settings.mirror:
        MirrorMode.check_stamp_field(settings.mirror_version_field, custom_fields)
    mode = _mode(settings, client, report, router, stand_ins)
    exporter = _exporter(settings, client, report, write_state, checkpoint, router, mode.delivery)
    mirror = None
    if settings.mirror:
        mirror = MirrorMode(
            settings, client, router, report, exporter, custom_fields, mode.leavers, changes_sent=mode.changes_sent
        )
        exporter.hold_state(True)  # until the input shows table versions, the whole run is one sync
    run = ExportRun(
        settings=settings,
        cursor=cursor,
        client=client,
        report=report,
        segments=SegmentFilter(settings.segments, settings.segment_property),
        custom_fields=custom_fields,
        router=router,
        exporter=exporter,
        mirror=mirror,
        progress=Progress(lambda: run.progress_line(), settings.progress_interval_seconds),
        ending=mode.ending,
        copy_user=mode.copy_user,
        skip_unchanged=settings.skip_unchanged and client is not None,
    )
    run.progress.start()
    return run


def _mode(
    settings: Settings,
    client: SendGridClient | None,
    report: RunReport,
    router: ListRouter,
    stand_ins: StandIns | None,
) -> _Mode:
    """A plan's layer (over the lists and fields resolved), or what a real or dry run writes with."""
    if stand_ins is not None:
        assert client is not None  # a plan is never a dry run (settings.check)
        layer: PlanLayer = plan_layer(settings.plan_path, report, client, stand_ins, router)
        return _Mode(layer.delivery, False, layer.leavers, layer, layer)
    leavers = None
    if client is not None:
        leavers = RemoveFromLists(client, settings.job_timeout_seconds, settings.max_job_attempts, router.describe)
    return _Mode(None, client is not None, leavers, None, ExportEnding(settings.dry_run, router, report))


def _client(settings: Settings) -> SendGridClient:
    return SendGridClient(
        settings.api_key,
        settings.api_url,
        timeout=settings.request_timeout_seconds,
        max_retries=settings.max_retries,
        max_download_bytes=settings.max_download_bytes,
        read_only=settings.plan,  # a plan's client refuses every write, whatever the code above it asks
    )


def _router(settings: Settings, client: SendGridClient | None, creator: Creator | None) -> ListRouter:
    """The lists the run writes to, by segment: one read of the account's lists finds (or creates) each named one."""
    segment_lists = settings.routed_segments  # an unselected segment's list is no target
    list_name = settings.list_name
    wanted = [*segment_lists.values(), *([list_name] if list_name else [])]
    ids, names = ListRouter.resolve(client, wanted, creator)
    list_id = ids.get(list_name) if list_name else None
    if settings.list_id:
        list_id = settings.list_id
        names[list_id] = _checked_list_name(client, list_id)
    placeholders = creator.placeholders if creator is not None else frozenset()
    segment_ids = {s: ids[v] for s, v in segment_lists.items()}
    return ListRouter(list_id, segment_ids, bool(settings.segments), placeholders, names)


def _exporter(
    settings: Settings,
    client: SendGridClient | None,
    report: RunReport,
    write_state: WriteState,
    checkpoint: Callable[[], None],
    router: ListRouter,
    delivery: BatchDelivery | None,
) -> Exporter:
    """The exporter, with the batching, concurrency and ceilings the settings ask for."""
    return Exporter(
        client,
        report,
        write_state,
        batch_size=settings.batch_size,
        max_request_bytes=settings.max_request_bytes,
        max_in_flight=settings.max_jobs_in_flight,
        job_timeout=settings.job_timeout_seconds,
        max_job_attempts=settings.max_job_attempts,
        max_contacts=settings.max_contacts,
        max_deletions=settings.max_contact_deletions,
        track_members=settings.mirror,
        checkpoint=checkpoint,
        describe=router.describe_all,
        delivery=delivery,
    )


def _no_state(state: dict[str, Any]) -> None:
    """The STATE writer of a dry run or a plan: it writes none (the next real run starts where the last one ended)."""


def _check_scopes(client: SendGridClient) -> None:
    """Refuse a key without marketing.read before any input is read (when GET /v3/scopes answers)."""
    scopes = client.scopes()
    if scopes is not None and "marketing.read" not in scopes:
        raise AuthError(
            f"The API key lacks the marketing.read scope (GET /v3/scopes lists {len(scopes)} others): give it "
            "Marketing access in SendGrid (Settings, API Keys), or use a Full Access key. Nothing was sent."
        )


def _custom_fields(settings: Settings, client: SendGridClient | None, creator: Creator | None) -> CustomFieldRegistry:
    """The account's custom fields: one cheap request that also checks the key at once."""
    definitions = client.field_definitions() if client else []
    registry = CustomFieldRegistry(
        settings.custom_field_mapping,
        definitions,
        creator,
        # A dry run cannot see the account: it takes every name as creatable.
        create=settings.create_custom_fields or client is None,
    )
    if conflicts := registry.type_conflicts():
        raise ConfigValidationError("custom field of another type", errors=conflicts)
    missing = registry.missing()
    if missing and not registry.create:
        raise ConfigValidationError(
            "unknown custom fields",
            errors=[
                f"custom_field_mapping names custom fields this SendGrid account does not have: {missing}. "
                f"The account has: {registry.account_fields()}. Fix the names, or set "
                "create_custom_fields: true to create them."
            ],
        )
    return registry


def _checked_list_name(client: SendGridClient | None, list_id: str) -> str:
    """The name of list ``list_id``, once SendGrid confirmed it exists (a dry run takes the id on trust)."""
    if client is None:
        return list_id
    try:
        return str(client.get_list(list_id).get("name") or list_id)
    except NotFound:
        raise ConfigValidationError(
            "list_id not found", errors=[f"No SendGrid list has the id {list_id!r} (list_id)."]
        ) from None
