#!/bin/bash
# One-shot, in the Elasticsearch image, after elasticsearch is healthy: Kibana's own password, the
# two dirsrvbeat roles of deploy/elasticsearch/ and their users. Idempotent (PUT/POST overwrite).
set -euo pipefail
ES=${ES_URL:-http://elasticsearch:9200}
KIBANA_USER=${KIBANA_ES_USER:-kibana_system}
auth=(-u "elastic:$(cat /run/secrets/elastic_password)")
call() {  # METHOD PATH [BODY-FILE|-]
    local out
    out=$(curl -sS -w '\n%{http_code}' "${auth[@]}" -H 'Content-Type: application/json' -X "$1" "$ES$2" \
          ${3:+--data-binary "@$3"})
    case "${out##*$'\n'}" in 2*) ;; *) echo "es-init: $1 $2 -> ${out}" >&2; return 1 ;; esac
}
json_user() {  # PASSWORD-FILE ROLE...
    local pw=$1; shift
    local roles
    roles=$(printf '"%s",' "$@")
    printf '{"password": "%s", "roles": [%s]}' "$(cat "$pw")" "${roles%,}"
}
for _ in $(seq 1 60); do
    curl -sf "${auth[@]}" "$ES/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null && break
    sleep 2
done
printf '{"password": "%s"}' "$(cat /run/secrets/kibana_system_password)" \
    | call POST "/_security/user/$KIBANA_USER/_password" -
call PUT /_security/role/dirsrvbeat_writer /deploy/elasticsearch/role-dirsrvbeat-writer.json
call PUT /_security/role/dirsrvbeat_setup /deploy/elasticsearch/role-dirsrvbeat-setup.json
json_user /run/secrets/dirsrvbeat_es_password dirsrvbeat_writer | call PUT /_security/user/dirsrvbeat_writer -
# kibana_admin (7.8+) / kibana_user (older): the Kibana part of the dashboard import in the dev stack
json_user /run/secrets/dirsrvbeat_setup_password dirsrvbeat_setup kibana_admin kibana_user \
    | call PUT /_security/user/dirsrvbeat_setup -
echo "es-init: users kibana ($KIBANA_USER), dirsrvbeat_writer, dirsrvbeat_setup ready"
