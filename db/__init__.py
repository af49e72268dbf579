"""Database infrastructure: SQLAlchemy models, engine set-up, the DBRunner thread pool, the
change feed of events, the errors other layers react to, migrations, the YAML catalog and
the demo data. It imports no capability: each capability's store is in its own folder."""
