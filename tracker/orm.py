"""The one DeclarativeBase, with a naming convention (Alembic batch mode on SQLite needs names)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import JSON, MetaData, String
from sqlalchemy.orm import DeclarativeBase, mapped_column

from tracker.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

int_pk = Annotated[int, mapped_column(primary_key=True)]
str_short = Annotated[str, mapped_column(String(64))]
str_name = Annotated[str, mapped_column(String(200))]
aware_dt = Annotated[datetime, mapped_column(UTCDateTime())]
json_dict = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}
