"""Reminders: when a deadline is warned about, the sweep that sends due reminders, the weekly digest."""
