"""Voicemail and the back office (R-1.7, R-3.x): taking in messages without losing one
(``intake``, ``spool``), the item's claim rules (``claims``), the queue staff work
(``store``), its pages (``routes``) and the e-mail reports (``mailer``)."""
