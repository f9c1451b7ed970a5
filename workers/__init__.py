"""Celery adapter: the app, the one beat schedule, and tasks that call `tracker/` services."""
