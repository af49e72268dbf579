"""The call side (R-1.x): pure cores (menus, schedules, the escalation state machine, FIFO
matching, support turns, the names shared with the dialplan), the calls' ``store``, the
``services`` pages and flows both use, and the AGI ``flows``."""
