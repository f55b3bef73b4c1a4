"""Elasticsearch support: one version-neutral HTTP client (6.8 → 9.x) and the template generator.

  client.EsClient      requests over `elastic_transport` (no product check, plain `application/json`)
  templates            index templates / ILM policy per server version, from `fields/*.yml`
"""

from .client import (
    EsAuthError,
    EsClient,
    EsConnectionError,
    EsError,
    EsNotFound,
    EsRequestError,
    EsServerError,
    EsTooManyRequests,
    ServerInfo,
    UnsupportedServer,
)

__all__ = [
    "EsAuthError",
    "EsClient",
    "EsConnectionError",
    "EsError",
    "EsNotFound",
    "EsRequestError",
    "EsServerError",
    "EsTooManyRequests",
    "ServerInfo",
    "UnsupportedServer",
]
