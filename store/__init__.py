"""countermap's store: schema, ingest, sync and read queries over the mapping data."""
