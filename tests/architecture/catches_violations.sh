#!/usr/bin/env bash
# The architecture check fails when it should: on a fixture tree with one violation of each kind
# (a forbidden part, another part's detail/ folder and detail:: namespace, a restricted system
# header, a header of no part, a file of no part) it must exit 1 and print exactly the expected
# lines, and nothing for the uses that are allowed.
# usage: catches_violations.sh CHECK_DEPS_PY
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(python3 "$1" "$here/fixture")"
rc=$?
if [[ "$rc" != 1 ]]; then
  echo "catches_violations: expected exit status 1, got $rc" >&2
  exit 1
fi
if ! diff <(echo "$out") "$here/expected.txt"; then
  echo "catches_violations: the report differs from expected.txt (above: < got, > expected)" >&2
  exit 1
fi
echo "catches_violations: $(grep -c ': ' "$here/expected.txt") lines as expected, exit 1"
