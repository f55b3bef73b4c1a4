#!/bin/sh
# Entry point of the kibana services: Kibana's image takes settings from the environment but has no
# *_FILE form, so read the password of Kibana's Elasticsearch user from the compose secret.
set -eu
ELASTICSEARCH_PASSWORD=$(cat /run/secrets/kibana_system_password)
export ELASTICSEARCH_PASSWORD
exec /usr/local/bin/kibana-docker "$@"
