"""Processors: stages that turn one stream of records into another (parse, join, enrich, classify)."""
