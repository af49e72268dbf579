"""prompt_texts and dids.language: prompts that speak, in the caller's language (R-6.4)

No prompt shipped, so a real Asterisk played nothing (issue 10). The catalog's new
``prompts:`` section keeps the words of the prompts a centre names, per language, for
``hotline prompts`` to speak; a DID says which language its callers hear (null: the
centre's ``prompt_language`` setting, else English). No stored row changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prompt_texts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("name", "language", name=op.f("pk_prompt_texts")),
    )
    with op.batch_alter_table("dids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dids", schema=None) as batch_op:
        batch_op.drop_column("language")
    op.drop_table("prompt_texts")
