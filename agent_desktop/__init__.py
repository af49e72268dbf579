"""The agent's web desktop (Klein + Jinja2): seats, states, status line, Active call form."""
