"""The back office's store: items as the call flows hand them in (``intake``), the queue
staff work (``queue``), and the e-mail reports (``email``)."""
