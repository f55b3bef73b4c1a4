"""Subcommands of the `dirsrvbeat` CLI, one module per job."""
