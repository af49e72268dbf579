"""The reports' store: figures computed from the call records (``kpi``, R-5.4)."""
