"""Tickets: the models, the status table, channels, history (the one writer of events and outbox rows),
topic labels and the read side (queues, filters, the timeline)."""
