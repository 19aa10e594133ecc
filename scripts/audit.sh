#!/usr/bin/env bash
# `npm audit` of the production dependencies at level high. Fails on findings; when the registry's
# audit endpoint cannot be reached (some sandboxes allow package downloads only), says so loudly
# and goes on, since there is then nothing to check against.
set -uo pipefail
cd "$(dirname "$0")/.."

out=$(npm audit --omit=dev --audit-level=high 2>&1)
code=$?
echo "$out" | grep -v 'Unknown user config'
if [ $code -eq 0 ]; then
	echo "audit: no high or critical advisories in production dependencies"
	exit 0
fi
if echo "$out" | grep -q "audit endpoint returned an error\|ENOTFOUND\|ECONNREFUSED\|EAI_AGAIN"; then
	echo "audit: WARNING the registry's audit endpoint is unreachable from here; production dependencies were NOT audited" >&2
	exit 0
fi
exit $code
