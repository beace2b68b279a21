#!/usr/bin/env bash
# The local overlay's Secrets, with fresh random values, as YAML on
# stdout: ./secrets.sh | kubectl apply -n vouchers -f -
# The names are those of deploy/kubernetes/secrets.example.yaml, plus the
# provider fake's tokens and the in-cluster PostgreSQL's password.
set -euo pipefail
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
secret() {
  printf -- '---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s}\ntype: Opaque\nstringData:\n' "$1"
  shift
  while [ $# -gt 1 ]; do printf '  %s: "%s"\n' "$1" "$2"; shift 2; done
}
pg=$(hex)
# 32 random bytes, base64 without padding, as the gateway reads its key.
secret jwt-signing-key jwt-signing-key "$(head -c 32 /dev/urandom | base64 | tr -d '=\n')"
secret jwt-key-id jwt-key-id local-1
secret ops-token ops-token "$(hex)"
secret postgres password "$pg" \
  connection-string "host=postgres port=5432 user=vouchers password=$pg dbname=vouchers sslmode=disable connect_timeout=5"
for app in gateway voucher-int voucher sms voucher-provider; do
  secret "$app-app-token" token "$(hex)"
  secret "$app-dapr-api-token" token "$(hex)"
done
