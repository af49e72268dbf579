"""Call flows: one ``async def`` per AGI script, reading top to bottom (adapters over the
pure core in ``dialplan/`` and the database functions in ``db/``)."""
