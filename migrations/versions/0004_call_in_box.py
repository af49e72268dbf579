"""calls.state "in_box": a caller leaving a message or hearing the callback confirmation

A caller who chose voicemail or a callback was still ``waiting`` until the message was
recorded, so the first-come-first-served matching handed free agents to a caller who was
talking to a box and the callers behind waited (found on a real Asterisk, issue 10). The
state's CHECK constraint gets the new value; no stored row changes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BEFORE = (
    "ivr",
    "waiting",
    "ringing",
    "talking",
    "answered",
    "voicemail",
    "callback",
    "abandoned_ivr",
    "abandoned_queue",
    "abandoned_ringing",
    "closed",
    "transferred",
    "fallback",
    "no_answer",
    "busy",
    "failed",
)
_AFTER = (*_BEFORE[:3], "in_box", *_BEFORE[3:])


def _replace_check(values: tuple[str, ...]) -> None:
    listed = ", ".join(f"'{value}'" for value in values)
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_calls_call_state"), type_="check")
        batch_op.create_check_constraint("call_state", f"state IN ({listed})")


def upgrade() -> None:
    _replace_check(_AFTER)


def downgrade() -> None:
    # A call in a box at the downgrade becomes a waiting one (the older flow's view of it).
    op.execute("UPDATE calls SET state = 'waiting' WHERE state = 'in_box'")
    _replace_check(_BEFORE)
