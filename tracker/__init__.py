"""The citizen-interaction tracker's domain: models, rules and use cases.

Nothing in this package imports Flask or Celery; `web/` and `workers/` are adapters around it.
"""
