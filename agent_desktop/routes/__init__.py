"""The agent's pages: the desktop (``desktop``), the Active call form (``call_form``), the
transfer and outbound dialogs, and the live events every signed-in page follows
(``live_events``)."""
