"""Lookup tables of 389 DS and LDAP codes (names for result codes, tags, scopes, notes, close codes)."""

from __future__ import annotations

# RFC 4511 section 4.1.9 plus the codes 389 DS and common extensions return.
LDAP_RESULT_NAMES: dict[int, str] = {
    0: "success", 1: "operationsError", 2: "protocolError", 3: "timeLimitExceeded",
    4: "sizeLimitExceeded", 5: "compareFalse", 6: "compareTrue", 7: "authMethodNotSupported",
    8: "strongerAuthRequired", 9: "partialResults", 10: "referral", 11: "adminLimitExceeded",
    12: "unavailableCriticalExtension", 13: "confidentialityRequired", 14: "saslBindInProgress",
    16: "noSuchAttribute", 17: "undefinedAttributeType", 18: "inappropriateMatching",
    19: "constraintViolation", 20: "attributeOrValueExists", 21: "invalidAttributeSyntax",
    32: "noSuchObject", 33: "aliasProblem", 34: "invalidDNSyntax", 35: "isLeaf",
    36: "aliasDereferencingProblem", 48: "inappropriateAuthentication", 49: "invalidCredentials",
    50: "insufficientAccessRights", 51: "busy", 52: "unavailable", 53: "unwillingToPerform",
    54: "loopDetect", 60: "sortControlMissing", 61: "offsetRangeError", 64: "namingViolation",
    65: "objectClassViolation", 66: "notAllowedOnNonLeaf", 67: "notAllowedOnRDN",
    68: "entryAlreadyExists", 69: "objectClassModsProhibited", 71: "affectsMultipleDSAs",
    76: "virtualListViewError", 80: "other", 118: "canceled", 119: "noSuchOperation",
    120: "tooLate", 121: "cannotCancel", 122: "assertionFailed", 123: "authorizationDenied",
}

# Outcome of an LDAP result code for event.outcome: codes that report a normal answer are success.
NON_FAILURE_RESULT_CODES = frozenset({0, 5, 6, 10, 14})

# BER tags of responses (RESULT tag=).
RESULT_TAG_NAMES: dict[int, str] = {
    97: "bind", 100: "search_entry", 101: "search", 103: "modify", 105: "add", 107: "delete",
    109: "modrdn", 111: "compare", 115: "search_reference", 120: "extended", 121: "intermediate",
    48: "internal",
}

# Operation type as logged (text verbs); the JSON log's names map onto these.
OP_TYPES = ("BIND", "SRCH", "MOD", "ADD", "DEL", "MODRDN", "CMP", "EXT", "ABANDON", "UNBIND")
JSON_OPERATION_TO_OP_TYPE: dict[str, str] = {
    "BIND": "BIND", "SEARCH": "SRCH", "MODIFY": "MOD", "ADD": "ADD", "DELETE": "DEL",
    "MODRDN": "MODRDN", "COMPARE": "CMP", "EXTENDED_OP": "EXT", "ABANDON": "ABANDON", "UNBIND": "UNBIND",
}
OP_TYPE_ACTIONS: dict[str, str] = {
    "BIND": "bind", "SRCH": "search", "MOD": "modify", "ADD": "add", "DEL": "delete",
    "MODRDN": "modrdn", "CMP": "compare", "EXT": "extended", "ABANDON": "abandon", "UNBIND": "unbind",
}

SCOPE_NAMES: dict[int, str] = {0: "base", 1: "one", 2: "sub", 3: "subordinate"}

# result.c notemap[], in the order the server prints them.
NOTE_NAMES: dict[str, str] = {
    "U": "partially_unindexed",
    "P": "paged",
    "A": "fully_unindexed",
    "F": "filter_attribute_missing_from_schema",
    "M": "multi_factor_authentication",
    "N": "not_synchronous",
    "B": "blocked_by_maxthreadsperconn",
}

# disconnect_error_strings.h: close code -> (2.1+ text, meaning).
CLOSE_CODES: dict[str, tuple[str, str]] = {
    "A1": ("Connection aborted", "client aborted the connection"),
    "B1": ("Bad Ber Tag or uncleanly closed connection",
           "corrupt BER, or the client closed the socket without UNBIND"),
    "B2": ("Ber Too Big (nsslapd-maxbersize)", "request PDU larger than nsslapd-maxbersize"),
    "B3": ("Ber peak tag", "corrupt BER"),
    "B4": ("Server failed to flush response back to Client", "write to the client failed (gone or too slow)"),
    "T1": ("Idle Timeout (nsslapd-idletimeout)", "connection idle longer than nsslapd-idletimeout"),
    "T2": ("IO Block Timeout (nsslapd-ioblocktimeout)", "blocked I/O longer than nsslapd-ioblocktimeout"),
    "T3": ("Paged Search Time Limit Exceeded", "paged search time limit exceeded"),
    "R1": ("Poll revents", "poll reported error events"),
    "P1": ("Plugin", "a plugin closed the connection"),
    "P2": ("Poll", "closed or corrupt connection detected by poll"),
    "P3": ("Invalid Proxy Header", "invalid HAProxy PROXY protocol header"),
    "P4": ("Unknown Proxy", "connection from an untrusted HAProxy"),
    "S1": ("SASL Failure", "SASL layer failure"),
    "U1": ("Cleanly Closed Connection", "client sent UNBIND"),
}

KNOWN_EXTENDED_OPS: dict[str, str] = {
    "1.3.6.1.4.1.1466.20037": "start_tls",
    "1.3.6.1.4.1.4203.1.11.1": "password_modify",
    "1.3.6.1.4.1.4203.1.11.3": "whoami",
    "1.3.6.1.1.8": "cancel",
    "2.16.840.1.113730.3.5.12": "replication_start_nsds90",
    "2.16.840.1.113730.3.5.5": "replication_end",
    "2.16.840.1.113730.3.5.6": "replication_entry",
    "2.16.840.1.113730.3.5.9": "replication_cleanallruv",
    "2.16.840.1.113730.3.5.3": "replication_start",
    "1.3.6.1.4.1.4203.1.11.2": "password_modify_legacy",
}
STARTTLS_OID = "1.3.6.1.4.1.1466.20037"


def result_name(code: int) -> str:
    return LDAP_RESULT_NAMES.get(code, f"code{code}")


def close_code_name(code: str) -> str:
    entry = CLOSE_CODES.get(code)
    return entry[0] if entry else code


def close_code_meaning(code: str) -> str:
    entry = CLOSE_CODES.get(code)
    return entry[1] if entry else "unknown close code"
