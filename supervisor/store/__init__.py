"""The supervisor's store: ``messages`` (R-2.16, a message to an agent) and ``live`` (the
live screen's rows, within the departments the viewer supervises, R-4.1..R-4.6)."""
