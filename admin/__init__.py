"""Administration pages (R-6.2, R-7.4): the whole contact centre managed in the browser,
checked by the catalog's own rules, audited, live without a restart."""
