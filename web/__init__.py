"""The web framework every capability's pages stand on (Klein + Jinja2, R-7.4, R-2.17).

``access`` (every route declares who may use it), ``guard`` (sign-in, CSRF, roles and
rights on every route; refusals and errors become pages or JSON in one place), ``request``
(what a handler gets), ``sessions`` (signed-in browsers), ``forms`` (typed fields), ``i18n``
and ``rendering`` (English and Czech pages), ``live_feed`` and ``sse`` (live events to the
browser), ``badge`` (the header of every page), ``routes`` (signing in and out).
"""
