"""voicemail_item_history: a code, the call and parameters instead of an English detail

The page words a history row in the reader's language from what was stored: the call it
was about (``call_id``) and parameters (``params``, a JSON object). Rows of earlier versions
are read once here: "call N" becomes the call, "after the claim of X expired" the previous
holder, an e-mail row's text its recipients.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

import json
import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_CALL = re.compile(r"^call (\d+)$")
_EXPIRED = re.compile(r"^after the claim of (.+) expired$")


def _params(action: str, detail: str) -> tuple[int | None, dict[str, object]]:
    call = _CALL.match(detail)
    if call:
        return int(call.group(1)), {}
    expired = _EXPIRED.match(detail)
    if expired:
        return None, {"previous_holder": expired.group(1)}
    if action in ("emailed", "email_failed") and detail:
        to = [a.strip() for a in detail.replace(";", ",").split(",") if a.strip()]
        return None, {"to": to}
    return None, {}


def upgrade() -> None:
    with op.batch_alter_table("voicemail_item_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("call_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("params", sa.Text(), nullable=False, server_default="{}"))
        batch_op.create_foreign_key(
            batch_op.f("fk_voicemail_item_history_call_id_calls"),
            "calls",
            ["call_id"],
            ["id"],
            ondelete="SET NULL",
        )
    history = sa.table(
        "voicemail_item_history",
        sa.column("id", sa.Integer),
        sa.column("action", sa.String),
        sa.column("detail", sa.Text),
        sa.column("call_id", sa.Integer),
        sa.column("params", sa.Text),
    )
    calls = sa.table("calls", sa.column("id", sa.Integer))
    connection = op.get_bind()
    known_calls = {row[0] for row in connection.execute(sa.select(calls.c.id))}
    rows = connection.execute(
        sa.select(history.c.id, history.c.action, history.c.detail).where(history.c.detail != "")
    ).all()
    for row_id, action, detail in rows:
        call_id, params = _params(action, detail)
        connection.execute(
            history.update()
            .where(history.c.id == row_id)
            .values(
                call_id=call_id if call_id in known_calls else None,
                params=json.dumps(params, sort_keys=True),
            )
        )
    with op.batch_alter_table("voicemail_item_history", schema=None) as batch_op:
        batch_op.drop_column("detail")


def downgrade() -> None:
    with op.batch_alter_table("voicemail_item_history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.Text(), nullable=False, server_default=""))
    history = sa.table(
        "voicemail_item_history",
        sa.column("id", sa.Integer),
        sa.column("detail", sa.Text),
        sa.column("call_id", sa.Integer),
        sa.column("params", sa.Text),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(history.c.id, history.c.call_id, history.c.params)
    ).all()
    for row_id, call_id, raw in rows:
        params = json.loads(raw or "{}")
        if call_id is not None:
            detail = f"call {call_id}"
        elif "previous_holder" in params:
            detail = f"after the claim of {params['previous_holder']} expired"
        else:
            detail = ", ".join(params.get("to", []))
        connection.execute(history.update().where(history.c.id == row_id).values(detail=detail))
    with op.batch_alter_table("voicemail_item_history", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_voicemail_item_history_call_id_calls"), type_="foreignkey"
        )
        batch_op.drop_column("params")
        batch_op.drop_column("call_id")
