"""Plans (``plan: true``): what a real run would change, counted from SendGrid's copy, written nowhere.

A plan is a layer over the real run: :func:`~target_sendgrid.planning.layer.plan_layer` builds,
from constructor arguments only, what the run is handed in the place of writing (a creator of
stand-in lists and fields, a delivery that counts batches, leavers that count mirror's stale
members, the reader of SendGrid's copy, and the plan's ending). The real run's code knows none of
this: it sees a read-only client and those collaborators.
"""
