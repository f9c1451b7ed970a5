"""Notifications: the in-app bell, per-user preferences, outside channels (e-mail, SMS, group robots), deliveries."""
