"""contacts: phone, ID number, e-mail and address encrypted at rest, with blind indexes

New columns `phone_ct`, `email_ct`, `address_ct`, `id_number_ct` (SM4-GCM or AES-256-GCM tokens,
tracker.pii.cipher) and `phone_bidx`, `id_number_bidx`, `email_bidx` (HMAC-SM3, indexed). Existing rows are
encrypted here, in batches, under the current key of the configured keyring (TRACKER_PII_KEYS /
TRACKER_PII_KEYS_FILE; the embedded default's generated key file); then the plain columns and their index
are dropped. Downgrade decrypts back into plain columns (any configured key reads any row).

Revision ID: 0028
Revises: 0031 (written against 0025; re-chained after the citizen and desk migrations landed)
"""

import sqlalchemy as sa
from alembic import op

from tracker.pii import cipher

revision = "0028"
down_revision = "0030"
branch_labels = None
depends_on = None

FIELDS = ("phone", "email", "address", "id_number")
PLAIN_TYPES = {"phone": 64, "email": 255, "address": 500, "id_number": 64}
BATCH = 1000


def _sqlite_foreign_keys(enabled: bool) -> None:
    """Batch mode rebuilds `contacts`, which tickets refer to: SQLite must not count the DROP of the old
    copy as deleting every contact (the copy keeps the ids). Between transactions: inside one the pragma
    does nothing."""
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _contacts(*names: str) -> sa.TableClause:
    return sa.table("contacts", sa.column("id", sa.Integer()), *(sa.column(n, sa.Text()) for n in names))


def _rewrite(source: tuple[str, ...], target: tuple[str, ...], convert) -> None:
    """Read `source` columns of every contact in id batches, write `convert(row)` into `target`."""
    bind = op.get_bind()
    table = _contacts(*source, *target)
    last = 0
    while True:
        rows = bind.execute(
            sa.select(table.c.id, *(table.c[n] for n in source))
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = [dict(zip(target, convert(row), strict=True), b_id=row.id) for row in rows]
        updates = [u for u in updates if any(u[n] is not None for n in target)]
        if updates:
            bind.execute(
                table.update()
                .where(table.c.id == sa.bindparam("b_id"))
                .values({n: sa.bindparam(n) for n in target}),
                updates,
            )
        last = rows[-1].id


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name in FIELDS:
            batch_op.add_column(sa.Column(f"{name}_ct", sa.Text(), nullable=True))
        for name in ("phone", "id_number", "email"):
            batch_op.add_column(sa.Column(f"{name}_bidx", sa.String(length=cipher.INDEX_LENGTH), nullable=True))

    def encrypt(row) -> tuple:
        phone, email, address, id_number = (getattr(row, n) for n in FIELDS)
        sealed = tuple(
            cipher.seal(value, f"contacts.{name}") if value is not None else None
            for name, value in zip(FIELDS, (phone, email, address, id_number), strict=True)
        )
        return (*sealed, *cipher.contact_indexes(phone, id_number, email))

    # The keyring is asked for only when a contact exists: a new database needs no key to be created.
    _rewrite(FIELDS, (*(f"{n}_ct" for n in FIELDS), "phone_bidx", "id_number_bidx", "email_bidx"), encrypt)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_contacts_phone")
        for name in FIELDS:
            batch_op.drop_column(name)
        for name in ("phone", "id_number", "email"):
            # Partial: only contacts with a value (tracker/tickets/models.py says why).
            batch_op.create_index(
                batch_op.f(f"ix_contacts_{name}_bidx"),
                [f"{name}_bidx"],
                unique=False,
                postgresql_where=sa.text(f"{name}_bidx IS NOT NULL"),
                sqlite_where=sa.text(f"{name}_bidx IS NOT NULL"),
            )
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name in FIELDS:
            batch_op.add_column(sa.Column(name, sa.String(length=PLAIN_TYPES[name]), nullable=True))

    def decrypt(row) -> tuple:
        return tuple(
            cipher.unseal(getattr(row, f"{n}_ct"), f"contacts.{n}") if getattr(row, f"{n}_ct") is not None else None
            for n in FIELDS
        )

    _rewrite(tuple(f"{n}_ct" for n in FIELDS), FIELDS, decrypt)

    with op.batch_alter_table("contacts", schema=None) as batch_op:
        for name in ("phone", "id_number", "email"):
            batch_op.drop_index(batch_op.f(f"ix_contacts_{name}_bidx"))
            batch_op.drop_column(f"{name}_bidx")
        for name in FIELDS:
            batch_op.drop_column(f"{name}_ct")
        batch_op.create_index("ix_contacts_phone", ["phone"], unique=False)
    _sqlite_foreign_keys(True)
