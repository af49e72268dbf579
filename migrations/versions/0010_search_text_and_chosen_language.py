"""customers.search_text and a nullable agents.language (issue 16)

Search ignores accents and case on SQLite and PostgreSQL alike: each customer keeps its
name, address and contract number folded (``domain.search.fold``) in ``search_text``,
filled here for the customers already stored. ``agents.language`` becomes nullable: null
means the person never chose, so the browser's language applies; a stored value is their
choice and wins. Stored languages are kept as they are.

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from domain.search import searchable

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

_customers = sa.table(
    "customers",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("address", sa.String),
    sa.column("contract_number", sa.String),
    sa.column("search_text", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_text", sa.String(length=600), nullable=False, server_default="")
        )
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.alter_column("language", existing_type=sa.String(length=8), nullable=True)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(_customers.c.id, _customers.c.name, _customers.c.address, _customers.c.contract_number)
    ).all()
    for customer_id, name, address, contract in rows:
        connection.execute(
            _customers.update()
            .where(_customers.c.id == customer_id)
            .values(search_text=searchable(name or "", address or "", contract or ""))
        )


def downgrade() -> None:
    op.execute(sa.text("UPDATE agents SET language = 'en' WHERE language IS NULL"))
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.alter_column("language", existing_type=sa.String(length=8), nullable=False)
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("search_text")
