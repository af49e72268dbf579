"""Callback requests (a caller pressed ``0``, R-1.8) share the back office with voicemails.

The design card names this folder; the work itself lives where both kinds of item are
handled together: intake and the disk spool in ``voicemail/intake.py`` and
``voicemail/spool.py``, claiming in ``voicemail/claims.py``, the pages in
``voicemail/pages.py``, and resolution by a later answered call (R-3.6) in
``db/backoffice_queue.py``.
"""
