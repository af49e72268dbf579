"""One-off scheduled reports (R-5.5): one given period, sent once on a given day

``report_schedules.period`` takes ``once``; a one-off keeps its first day in ``starts_on``,
its last day in ``ends_on`` and the day it is sent in ``send_on`` (none: the day after its
last day). The (schedule, period) claim of ``report_sendings`` makes it go once, as for the
periodic schedules.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

CHECK = "ck_report_schedules_report_period"  # already the naming convention's: op.f


def upgrade() -> None:
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ends_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("send_on", sa.Date(), nullable=True))
        batch_op.drop_constraint(op.f(CHECK), type_="check")
        batch_op.create_check_constraint(
            op.f(CHECK), "period IN ('daily', 'weekly', 'monthly', 'once')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM report_schedules WHERE period = 'once'")
    with op.batch_alter_table("report_schedules", schema=None) as batch_op:
        batch_op.drop_constraint(op.f(CHECK), type_="check")
        batch_op.create_check_constraint(op.f(CHECK), "period IN ('daily', 'weekly', 'monthly')")
        batch_op.drop_column("send_on")
        batch_op.drop_column("ends_on")
