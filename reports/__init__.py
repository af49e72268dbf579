"""Call records and reports."""
