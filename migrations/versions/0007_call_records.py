"""Call records: the indexes of their keyset pages and filters, and API keys (R-5.1, R-5.6)

The ``/calls`` list and its CSV export page by ``(started_at, id)`` newest first, whole or
within a queue or an agent, and filter by number and RT number; these indexes keep a page
fast on a million calls (docs/performance.md). ``api_keys`` and ``api_key_queues`` hold
the integrations' keys (hashed) and the queues each may read. No stored row changes.

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0007"
down_revision = "0005"
branch_labels = None
depends_on = None

_CALL_INDEXES = {
    "ix_calls_records_order": ["started_at", "id"],
    "ix_calls_records_queue": ["queue_id", "started_at", "id"],
    "ix_calls_records_agent": ["agent_id", "started_at", "id"],
    "ix_calls_caller_number": ["caller_number"],
    "ix_calls_callee_number": ["callee_number"],
    "ix_calls_rt_number": ["rt_number"],
}


def upgrade() -> None:
    for name, columns in _CALL_INDEXES.items():
        op.create_index(name, "calls", columns)
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["agents.id"],
            name=op.f("fk_api_keys_created_by_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "api_key_queues",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_queues_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["queue_id"],
            ["queues.id"],
            name=op.f("fk_api_key_queues_queue_id_queues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", "queue_id", name=op.f("pk_api_key_queues")),
    )


def downgrade() -> None:
    op.drop_table("api_key_queues")
    op.drop_table("api_keys")
    for name in reversed(list(_CALL_INDEXES)):
        op.drop_index(name, table_name="calls")
