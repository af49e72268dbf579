"""The agent's desktop (R-2.x): the agent's state machine, the Active call form's rules and
the status line (pure cores), their store, and the agent's pages (``routes``)."""
