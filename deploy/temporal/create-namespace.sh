#!/bin/sh
# One-off (compose service temporal-namespace, image temporalio/admin-tools):
# registers the namespace cohortflow runs in, once the server answers. Closed
# workflows are kept for NAMESPACE_RETENTION (a cohort's own workflow is open for
# its whole programme, years; the store keeps every event for good).
set -eu
# As Temporal's own compose scripts do: the CLI is given the server's IPv4 address, not its name.
host=${TEMPORAL_ADDRESS%:*}
address=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }'):${TEMPORAL_ADDRESS##*:}
namespace=${NAMESPACE:-default}

attempt=0
until temporal operator cluster health --address "$address"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 30 ]; then
    echo "Temporal at $address did not become healthy" >&2
    exit 1
  fi
  sleep 2
done

temporal operator namespace describe --namespace "$namespace" --address "$address" >/dev/null 2>&1 \
  || temporal operator namespace create --namespace "$namespace" --retention "${NAMESPACE_RETENTION:-30d}" --address "$address"
echo "namespace $namespace is registered"
