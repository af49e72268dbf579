"""The call side's store: the functions that take a ``Session`` and return frozen dataclasses
(one transaction each, run through ``db.runner.DBRunner``): calls and their rings
(``calls``), the routing data the flows read (``routing``), transfers and outbound calls,
and the janitor that closes calls whose server is gone."""
