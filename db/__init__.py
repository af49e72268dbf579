"""The database: SQLAlchemy models, engine set-up and the DBRunner thread pool."""
