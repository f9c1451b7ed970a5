"""The interaction figures (政民互动: received, replied, on time, rated, satisfied per channel) and the top
topics, one scan of `tickets` over the facts kept on each row (tracker.reports.facts); definitions in
tracker.reports.scope."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.reports.scope import (
    CHANNEL_REPORT_LABELS,
    REPORT_CHANNELS,
    SATISFIED_DEFAULT,
    TOPIC_CHANNELS,
    Scope,
    tune_for_reporting,
)
from tracker.tickets.channels import SATISFACTION_SOURCES
from tracker.tickets.models import Ticket, TicketTopic
from tracker.tickets.topics import label_names

# -- interaction figures --------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    def percent(self, digits: int = 1) -> str:
        if self.value is None:
            return "—"
        text = f"{self.value * 100:.{digits}f}".rstrip("0").rstrip(".")
        return f"{text}%"


@dataclass
class ChannelFigures:
    channel: str
    label: str
    received: int = 0
    replied: int = 0
    on_time: int = 0
    without_deadline: int = 0
    rated: int = 0
    satisfied: int = 0
    # Of `rated`, how many came from each source (tracker.tickets.channels.SATISFACTION_SOURCES); "unknown" for
    # ratings recorded before the source was (migration 0029).
    rated_by_source: dict[str, int] = field(default_factory=dict)
    median_workdays: float | None = None
    mean_workdays: float | None = None

    @property
    def reply_rate(self) -> Rate:
        return Rate(self.replied, self.received)

    @property
    def on_time_rate(self) -> Rate:
        return Rate(self.on_time, self.replied)

    @property
    def satisfaction_rate(self) -> Rate:
        return Rate(self.satisfied, self.rated)

    @property
    def rating_sources(self) -> dict[str, int]:
        """Rated tickets per source, in SATISFACTION_SOURCES order, with "unknown" for the rest."""
        out = {s: self.rated_by_source[s] for s in SATISFACTION_SOURCES if self.rated_by_source.get(s)}
        unknown = self.rated - sum(out.values())
        if unknown:
            out["unknown"] = unknown
        return out

    def rating_sources_text(self) -> str:
        """ "回访 12 · 网站好差评 3" — the report's line saying where the ratings came from."""
        labels = {**SATISFACTION_SOURCES, "unknown": "来源未记录"}
        return " · ".join(f"{labels[s]} {n}" for s, n in self.rating_sources.items()) or "—"


def _replied(scope: Scope):
    """Answered before the end of the period — by its first 答复, which is also what timeliness is judged
    by: answered in time, reopened and answered again later is replied, and on time."""
    return and_(Ticket.first_replied_at.is_not(None), Ticket.first_replied_at < scope.end_at)


def _interaction_filter(scope: Scope):
    """Merged duplicates are left out, except applications: a merged one is a 重复申请 in section 三,
    and the disclosure channel's figures stay equal to the table's (received = 一)."""
    return and_(
        scope.ticket_filter(include_merged=True),
        or_(Ticket.merged_into_id.is_(None), Ticket.channel == "disclosure"),
    )


def _interaction_scope(scope: Scope):
    return and_(
        Ticket.channel.in_(REPORT_CHANNELS),
        Ticket.received_at >= scope.start_at,
        Ticket.received_at < scope.end_at,
        _interaction_filter(scope),
    )


def _on_time(scope: Scope):
    return and_(
        _replied(scope), Ticket.reply_due_at.is_not(None), Ticket.first_replied_at <= Ticket.reply_due_at
    )


@dataclass
class TicketFigures:
    """What one scan of the period's tickets gives: the interaction figures and the top topics."""

    interaction: dict[str, ChannelFigures]
    topics: list[tuple[str, int]]


def ticket_figures(
    session: Session,
    scope: Scope,
    *,
    satisfied_levels: Iterable[str] = SATISFIED_DEFAULT,
    topic_limit: int = 5,
) -> TicketFigures:
    """Per channel: received, replied, on time, rated, satisfied, median and mean working days to reply;
    and what citizens asked about most (topics, or the 诉求分类 of tickets that carry no topic).

    One pass over the period's unmerged tickets (the due time, working days and topic label are on the
    row, no join), one hash aggregation: the rows are grouped by channel, working days to reply and topic
    label (its integer id), so the database returns a small histogram (a few hundred groups, not tickets);
    the counts are its sums, the median and mean are read off it exactly, and the topics are its label
    column, named by one read of `topic_labels`. The merged applications, which count in the disclosure
    channel (`_interaction_filter`), come from a second, small read through the partial index of merged
    tickets. No sort of a year of replies, no join with ticket_topics except for the few tickets with
    several topics, and the same SQL on PostgreSQL and SQLite.

    The scan's WHERE is only the period and "not merged" — no channel list, no OR — and a condition
    that is NULL counts as false in a FILTER, so `replied_at < end` needs no IS NOT NULL beside it: on
    PostgreSQL each condition is evaluated for each of a year's rows (docs/benchmarks.md, report).
    """
    tune_for_reporting(session)
    levels = tuple(satisfied_levels)
    period = and_(Ticket.received_at >= scope.start_at, Ticket.received_at < scope.end_at)
    unmerged = and_(period, scope.ticket_filter())
    merged_applications = and_(
        period,
        Ticket.merged_into_id.is_not(None),
        Ticket.channel == "disclosure",
        scope.ticket_filter(include_merged=True),
    )
    figures = {code: ChannelFigures(code, CHANNEL_REPORT_LABELS[code]) for code in REPORT_CHANNELS}
    histograms: dict[str, dict[int, int]] = {code: {} for code in REPORT_CHANNELS}
    topic_ids: dict[int, int] = {}
    for where in (unmerged, merged_applications):
        for row in session.execute(_figures_query(scope, levels, where)).mappings():
            f = figures[row["channel"]]
            f.received += row["received"]
            f.replied += row["replied"]
            f.on_time += row["on_time"]
            f.without_deadline += row["without_deadline"]
            f.rated += row["rated"]
            f.satisfied += row["satisfied"]
            for source in SATISFACTION_SOURCES:
                if row[f"rated_{source}"]:
                    f.rated_by_source[source] = f.rated_by_source.get(source, 0) + row[f"rated_{source}"]
            if row["wd"] is not None and row["replied"]:
                histogram = histograms[row["channel"]]
                histogram[row["wd"]] = histogram.get(row["wd"], 0) + row["replied"]
            if row["channel"] in TOPIC_CHANNELS and row["topic"] is not None:
                topic_ids[row["topic"]] = topic_ids.get(row["topic"], 0) + row["received"]
    for code, histogram in histograms.items():
        figures[code].median_workdays, figures[code].mean_workdays = _median_mean(histogram)
    names = label_names(session, topic_ids)
    topics = {names[label_id]: n for label_id, n in topic_ids.items()}
    for topic, n in session.execute(_several_topics_query(scope)):
        topics[topic] = topics.get(topic, 0) + n
    # Most first, ties by name in code-point order (the order of the databases' C and BINARY collations).
    top = sorted(topics.items(), key=lambda item: (-item[1], item[0]))[:topic_limit]
    return TicketFigures(figures, top)


def _figures_query(scope: Scope, levels: tuple[str, ...], where: Any) -> Select:
    """The histogram of `ticket_figures` over the tickets `where` selects."""
    # NULL (no reply) compares as unknown, which a FILTER counts as false: no IS NOT NULL needed here.
    replied = Ticket.first_replied_at < scope.end_at  # the first 答复 (`_replied`)

    def count_if(condition):
        return func.count().filter(condition)

    # Grouped by the columns themselves, not by "workdays if replied": the planner knows their few
    # distinct values and aggregates in parallel workers; a reply after the period has its workdays but
    # is no reply here, and adds nothing to the histogram (which counts `replied`).
    workdays = Ticket.reply_workdays.label("wd")
    label = Ticket.topic_label_id.label("topic")  # an integer to hash, not the text (migration 0021)
    return (
        select(
            Ticket.channel,
            workdays,
            label,
            func.count().label("received"),
            count_if(replied).label("replied"),
            count_if(and_(replied, Ticket.first_replied_at <= Ticket.reply_due_at)).label("on_time"),
            count_if(and_(replied, Ticket.reply_due_at.is_(None))).label("without_deadline"),
            count_if(Ticket.satisfaction.is_not(None)).label("rated"),
            count_if(Ticket.satisfaction.in_(levels)).label("satisfied"),
            *(
                count_if(Ticket.satisfaction_source == source).label(f"rated_{source}")
                for source in SATISFACTION_SOURCES
            ),
        )
        .where(where)
        .group_by(Ticket.channel, workdays, label)
    )


def _several_topics_query(scope: Scope) -> Select:
    """Topic counts of the period's tickets with several topics (their `topic_label_id` is NULL): each counts
    once under each of its topics. A partial index finds them; most tickets have one topic or none."""
    return (
        select(TicketTopic.topic, func.count())
        .join(Ticket, Ticket.id == TicketTopic.ticket_id)
        .where(
            Ticket.has_several_topics,
            Ticket.channel.in_(TOPIC_CHANNELS),
            Ticket.received_at >= scope.start_at,
            Ticket.received_at < scope.end_at,
            scope.ticket_filter(),
        )
        .group_by(TicketTopic.topic)
    )


def interaction_figures(
    session: Session, scope: Scope, *, satisfied_levels: Iterable[str] = SATISFIED_DEFAULT
) -> dict[str, ChannelFigures]:
    """The interaction figures per channel (the scan of `ticket_figures`)."""
    return ticket_figures(session, scope, satisfied_levels=satisfied_levels).interaction


def _median_mean(histogram: dict[int, int]) -> tuple[float | None, float | None]:
    """Median (the mean of the two middle values for an even count) and mean of a value → count table."""
    total = sum(histogram.values())
    if not total:
        return None, None
    mean = sum(value * n for value, n in histogram.items()) / total
    middle = ((total + 1) // 2, (total + 2) // 2)  # 1-based ranks of the middle value(s)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        while len(found) < 2 and seen >= middle[len(found)]:
            found.append(value)
    return (found[0] + found[1]) / 2, mean


def interaction_ticket_ids(
    session: Session,
    scope: Scope,
    channel: str,
    measure: str,
    *,
    satisfied_levels: Iterable[str] = SATISFIED_DEFAULT,
) -> Select:
    """The tickets behind one interaction figure (drill-down): a Select of Ticket.id."""
    if channel not in REPORT_CHANNELS:
        raise ValidationError(f"未知渠道 {channel!r}", fields={"channel": "未知渠道"})
    replied = _replied(scope)
    conditions = {
        "received": None,
        "replied": replied,
        "unreplied": ~replied,
        "on_time": _on_time(scope),
        "late": and_(replied, ~_on_time(scope)),
        "rated": Ticket.satisfaction.is_not(None),
        "satisfied": Ticket.satisfaction.in_(tuple(satisfied_levels)),
    }
    if measure not in conditions:
        raise ValidationError(f"未知指标 {measure!r}", fields={"measure": "未知指标"})
    query = select(Ticket.id).where(Ticket.channel == channel, _interaction_scope(scope))
    if conditions[measure] is not None:
        query = query.where(conditions[measure])
    return query
