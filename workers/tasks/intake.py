"""Intake tasks: the Weibo poll (with backoff), the silence alert, callbacks to the 12345 platform,
and dashboard uploads (imported in batches, progress on the ImportBatch row)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from sqlalchemy import select

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from workers.tasks.common import RETRY, settings_of

log = logging.getLogger(__name__)

STALE_QUEUED = timedelta(minutes=2)


def run_weibo_poll(settings: Settings, *, now=None, fetch=None, force: bool = False) -> dict:
    """One poll through the one door (`tracker.intake.weibo.poll_once`, also behind `tracker channel poll
    weibo`). The API's refusals are recorded on the adapter's row there, not raised; what is raised is
    the database or the network of this machine, which the task's retry policy covers."""
    from tracker.intake.weibo import poll_once

    return poll_once(settings, now=now or utcnow(), fetch=fetch, force=force)


@shared_task(bind=True, name="intake.weibo_poll", **RETRY)
def weibo_poll(self) -> dict:
    return run_weibo_poll(settings_of(self))


def run_adapter_health(settings: Settings, *, now=None) -> int:
    from tracker.intake.weibo import raise_silence_alerts

    if not settings.weibo_api_url:
        return 0
    with session_scope(settings.database_url) as session:
        return raise_silence_alerts(
            session, now=now or utcnow(), silence=timedelta(hours=settings.weibo_silence_hours)
        )


@shared_task(bind=True, name="intake.adapter_health", **RETRY)
def adapter_health(self) -> int:
    return run_adapter_health(settings_of(self))


def run_hotline_callbacks(settings: Settings, *, now=None, post=None) -> dict[str, int]:
    from tracker.intake.callbacks import deliver_due, plan_callbacks

    if not settings.hotline_callback_url:
        return {"disabled": 1}
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        planned = plan_callbacks(session, now=now)
    with session_scope(settings.database_url) as session:
        counts = deliver_due(
            session, url=settings.hotline_callback_url, secret_key=settings.secret_key, now=now, post=post
        )
    return {"planned": planned, **counts}


@shared_task(bind=True, name="intake.hotline_callbacks", **RETRY)
def hotline_callbacks(self) -> dict[str, int]:
    return run_hotline_callbacks(settings_of(self))


def run_import_batch(settings: Settings, batch_id: int, *, now=None) -> str:
    """Import an uploaded file: check every row, then write in batches with progress on the batch row.

    Safe to run twice (a redelivered task, the resume scan): a finished batch is left alone and a
    half-done one resumes, because rows already imported are recognised by their external reference.
    """
    from tracker.intake.importer import ImportRejected, batch_reach, check_file, import_file
    from tracker.intake.models import ImportBatch

    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        batch = session.get(ImportBatch, batch_id)
        if batch is None or batch.status in ("done", "failed"):
            return batch.status if batch else "missing"
        batch.status, batch.started_at = "validating", now
        channel, path = batch.channel, Path(batch.stored_path or "")
        department_code, skip = batch.department_code, batch.is_skip_bad_rows
        reach = batch_reach(session, batch)

    def record(**values) -> None:
        with session_scope(settings.database_url) as s:
            row = s.get(ImportBatch, batch_id)
            for key, value in values.items():
                setattr(row, key, value)

    try:
        # Rows that would update another department's ticket are found here, before any batch commits.
        with session_scope(settings.database_url) as session:
            checked = check_file(channel, path, department_code=department_code, session=session, reach=reach)
    except Exception as exc:
        record(status="failed", message=getattr(exc, "message", None) or str(exc)[:500], finished_at=utcnow())
        return "failed"
    errors = [
        {"row": e.row, "column": e.column, "reason": e.reason, "value": e.value} for e in checked.errors[:500]
    ]
    record(total_rows=checked.total, rejected_count=checked.rejected, errors=errors)
    if checked.rejected and not skip:
        record(status="failed", message=f"{checked.rejected} 行有错误，未导入任何数据", finished_at=utcnow())
        return "failed"
    record(status="importing")
    session = None
    try:
        from tracker.db import session_factory

        session = session_factory(settings.database_url)()

        def after_batch(report) -> None:
            batch = session.get(ImportBatch, batch_id)
            batch.processed_rows = report.created + report.updated + report.unchanged
            batch.created_count, batch.updated_count = report.created, report.updated
            batch.unchanged_count = report.unchanged
            session.commit()  # each batch with its progress: an interrupted import resumes on re-run

        report = import_file(
            session,
            channel,
            path,
            actor="文件导入（上传）",
            reach=reach,
            now=now,
            skip_bad_rows=skip,
            department_code=department_code,
            after_batch=after_batch,
            checked=checked,
        )
        batch = session.get(ImportBatch, batch_id)
        batch.status, batch.finished_at = "done", utcnow()
        batch.message = report.summary
        session.commit()
        from tracker.intake.importer import index_imported

        index_imported(settings.database_url, report.unindexed_ids)
        return "done"
    except ImportRejected as exc:
        session.rollback()
        record(status="failed", message=exc.message[:500], finished_at=utcnow())
        return "failed"
    except Exception as exc:
        session.rollback()
        record(
            status="failed",
            message=f"导入中断：{getattr(exc, 'message', type(exc).__name__)}",
            finished_at=utcnow(),
        )
        raise
    finally:
        if session is not None:
            session.close()


@shared_task(bind=True, name="intake.import_batch", **RETRY)
def import_batch(self, batch_id: int) -> str:
    return run_import_batch(settings_of(self), batch_id)


@shared_task(bind=True, name="intake.resume_imports", **RETRY)
def resume_imports(self) -> int:
    """Start uploads whose task never arrived (broker down when the page queued it)."""
    from tracker.intake.models import ImportBatch

    settings = settings_of(self)
    with session_scope(settings.database_url) as session:
        ids = list(
            session.scalars(
                select(ImportBatch.id).where(
                    ImportBatch.status == "queued", ImportBatch.created_at < utcnow() - STALE_QUEUED
                )
            )
        )
    for batch_id in ids:
        run_import_batch(settings, batch_id)
    return len(ids)


@shared_task(bind=True, name="intake.duplicate_scan", **RETRY)
def duplicate_scan(self) -> int:
    """Flag tickets whose text is very similar to an earlier one (the push and imports flag phone only)."""
    from tracker.intake.duplicates import scan_similar_text

    with session_scope(settings_of(self).database_url) as session:
        return scan_similar_text(session, now=utcnow())
