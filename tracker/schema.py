"""Every model module, listed once. Importing this module completes `Base.metadata` — the one metadata
Alembic compares against and the mapper registry in which `relationship("User")` strings resolve.

Models live with their domain (tracker/tickets/models.py, tracker/people/models.py, …); a new model module
is added to this list. `tracker.db` imports this module, so every session sees a complete registry.
"""

from __future__ import annotations

import tracker.audit.models
import tracker.calendar.models
import tracker.deadlines.models
import tracker.intake.models
import tracker.letters.models
import tracker.notify.models
import tracker.ops.models
import tracker.people.models
import tracker.privacy.models
import tracker.reports.models
import tracker.tickets.models
import tracker.tickets.outbox
import tracker.workflow.models
import tracker.workorders.models
from tracker.orm import Base

MODEL_MODULES = (
    tracker.audit.models,
    tracker.calendar.models,
    tracker.deadlines.models,
    tracker.intake.models,
    tracker.letters.models,
    tracker.notify.models,
    tracker.ops.models,
    tracker.people.models,
    tracker.privacy.models,
    tracker.reports.models,
    tracker.tickets.models,
    tracker.tickets.outbox,
    tracker.workflow.models,
    tracker.workorders.models,
)

metadata = Base.metadata
