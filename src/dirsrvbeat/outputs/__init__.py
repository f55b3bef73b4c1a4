"""Outputs: sinks for documents (NDJSON, Elasticsearch)."""
