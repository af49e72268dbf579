"""Callback requests: a caller pressed ``0`` (R-1.8) and asked to be called back.

A request is worked in the one back office with the voicemails (``voicemail/``: the list,
the item page, claiming); what is particular to it lives here: the intake of ``0``
(``intake``), the call back placed from the item page (``call_back``), and in ``store`` how
each call back went and the requests resolved by a later answered call of the customer
(R-3.3, R-3.6).
"""
