"""Scheduled reports that are sent (R-5.5): a schedule's owner, queue, time and language, and
the log of its sendings

``report_schedules`` gains whose rights the report is made with (``owner_id``; none for
the schedules the catalog loads: the whole centre), the queue it is narrowed to, the local
time it is sent at (06:00 for the schedules already stored), its language and the first day
it covers (``starts_on``, set when the scheduler first sees it). ``report_sendings`` holds one
row per schedule and period; its unique key is the claim that makes two processes sharing
the database send each period once.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

import db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("queue_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("send_at", sa.Time(), nullable=False, server_default="06:00:00")
        )
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("starts_on", sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_report_schedules_owner_id_agents"),
            "agents",
            ["owner_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            op.f("fk_report_schedules_queue_id_queues"),
            "queues",
            ["queue_id"],
            ["id"],
            ondelete="CASCADE",
        )
    op.create_table(
        "report_sendings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("claimed_at", db.types.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("retry_at", db.types.UTCDateTime(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["report_schedules.id"],
            name=op.f("fk_report_sendings_schedule_id_report_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_sendings")),
        sa.UniqueConstraint(
            "schedule_id",
            "first_day",
            "last_day",
            name=op.f("uq_report_sendings_schedule_id_first_day_last_day"),
        ),
    )


def downgrade() -> None:
    op.drop_table("report_sendings")
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_report_schedules_queue_id_queues"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            op.f("fk_report_schedules_owner_id_agents"), type_="foreignkey"
        )
        batch_op.drop_column("starts_on")
        batch_op.drop_column("language")
        batch_op.drop_column("send_at")
        batch_op.drop_column("queue_id")
        batch_op.drop_column("owner_id")
