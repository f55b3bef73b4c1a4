"""Inputs: sources of raw records (access-log files, cn=monitor over LDAP)."""
