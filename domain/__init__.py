"""The vocabulary every layer of Hotline shares, pure (standard library only).

``enums`` (stored values and the states of the state machines), ``numbers`` (phone number
formats, R-1.13 and R-2.6), ``clock`` (the one ``Clock`` protocol), ``texts`` (``N_``, the
mark of a text to translate) and ``refusals`` (the kinds of "no" a rule can say, which the
web guard answers with an HTTP status in one place).
"""
