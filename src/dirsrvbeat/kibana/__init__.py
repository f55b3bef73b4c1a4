"""Kibana saved objects for dirsrvbeat (placeholder, filled below)."""
