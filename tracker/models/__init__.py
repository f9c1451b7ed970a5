"""All models. Every module in this package is imported here, so `Base.metadata` is complete
wherever models are used and a new model module needs no registration."""

import importlib
import pkgutil

from tracker.models.base import Base
from tracker.models.calendar import CalendarYear, HolidayDay
from tracker.models.ops import ApiKey, Heartbeat, Lease, ReferenceStamp
from tracker.models.outbox import OutboxMessage, ProcessedMessage
from tracker.models.people import ROLES, AuditEntry, Department, User
from tracker.models.tickets import (
    Contact,
    Deadline,
    Ticket,
    TicketEvent,
    TicketNumberAllocation,
    TicketTopic,
    TopicLabel,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "ROLES",
    "ApiKey",
    "AuditEntry",
    "Base",
    "CalendarYear",
    "Contact",
    "Deadline",
    "Department",
    "Heartbeat",
    "HolidayDay",
    "Lease",
    "OutboxMessage",
    "ProcessedMessage",
    "ReferenceStamp",
    "Ticket",
    "TicketEvent",
    "TicketNumberAllocation",
    "TicketTopic",
    "TopicLabel",
    "User",
]
