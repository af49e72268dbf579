"""The agent desktop's store: agents at their seats and their states (``agent_sessions``),
the desk's pauses, locations and notifications (``desk``), and the Active call form
(``call_form``)."""
