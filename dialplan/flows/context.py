"""FlowContext: the ports a call flow works with (database, clock, settings), no globals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from twisted.logger import Logger

from db.runner import DBRunner
from dialplan.call_journal import JOURNAL_FOLDER, CallJournal
from dialplan.channel_vars import ANSWERED_CONTEXT, EXIT_CONTEXT
from dialplan.flows.offers import OfferPlanner
from domain.clock import Clock
from voicemail.spool import Spool

_log = Logger()


def disk_refused(what: str, error: OSError) -> None:
    """What the calls' journal and the spool say when the disk refuses a write (full): the
    change is kept in memory meanwhile, and a human should free the disk."""
    _log.error(
        "the disk refused {what} ({error}); kept in memory until the disk or the database takes it",
        what=what,
        error=error.strerror or str(error),
    )


@dataclass(frozen=True)
class FlowSettings:
    """What the flows need from the settings and the shipped dialplan."""

    time_zone: str = "Europe/Prague"
    recordings_dir: Path = Path("recordings")
    # How long a waiting caller listens for keys between two looks for a free agent.
    poll_ms: int = 1500
    # The contexts of the shipped asterisk-conf/extensions.conf.
    exit_context: str = EXIT_CONTEXT
    answered_context: str = ANSWERED_CONTEXT
    # A prompt that plays for a DID nobody configured.
    not_in_service_prompt: str = "hotline/not-in-service"
    callback_offer_prompt: str = "hotline/press-0-for-callback"
    callback_confirmed_prompt: str = "hotline/callback-registered"
    # After hours, after the queue's hours prompt, where the queue takes callbacks.
    closed_callback_prompt: str = "hotline/closed-press-0"
    message_saved_prompt: str = "hotline/message-saved"
    goodbye_prompt: str = "hotline/goodbye"
    # How long a caller who arrives while the database is down waits with music for it
    # to come back before the dialplan's fallback takes them (the resume chain's length).
    outage_wait_s: float = 15.0


@dataclass(frozen=True)
class FlowContext:
    db: DBRunner
    clock: Clock
    spool: Spool
    settings: FlowSettings = field(default_factory=FlowSettings)
    node: str = "hotline"  # which server process drives the call
    # Told the id of every new voicemail/callback item (the e-mail report, R-3.5).
    on_new_item: Callable[[int], object] | None = None
    # True once the process is shutting down: a flow that fails then leaves its call open
    # for the dialplan's resume on another (or the restarted) server.
    stopping: Callable[[], bool] = field(default=lambda: False)
    # The matching every waiting caller of this process reads its offer from (issue 12).
    offers: OfferPlanner = field(init=False)
    # The calls' state changes the database could not take (issue 11), in the spool.
    journal: CallJournal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offers", OfferPlanner(self.db, self.clock))
        journal = CallJournal(self.spool.directory / JOURNAL_FOLDER, disk_refused)
        object.__setattr__(self, "journal", journal)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)
