"""dirsrvbeat: Beats-style ingest for 389 Directory Server access logs and cn=monitor."""

__version__ = "0.1.0"
