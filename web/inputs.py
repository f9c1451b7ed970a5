"""What every request's query arguments and form fields must be before any view reads them: text.

A NUL character answered 500 on PostgreSQL wherever a value reached a query (sign-in, the portal's
查询码, every form that stores text); it is refused here once, with the field named, instead of in each
view. Numbers and dates are parsed by tracker/inputs.py where the view reads them.
"""

from __future__ import annotations

from flask import Flask, request

from tracker.errors import ValidationError
from tracker.inputs import fields_text_error


def _refuse_non_text() -> None:
    problem = fields_text_error(request.args.items(multi=True))
    if problem is None and request.method in ("POST", "PUT", "PATCH", "DELETE") and request.form:
        problem = fields_text_error(request.form.items(multi=True))
    if problem is not None:
        field, reason = problem
        raise ValidationError(f"{field}：{reason}", fields={field: reason})


def init_app(app: Flask) -> None:
    app.before_request(_refuse_non_text)
