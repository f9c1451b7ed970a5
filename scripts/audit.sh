#!/usr/bin/env bash
# Known vulnerabilities of the locked dependencies: `make audit`, run by .ci/run after the tests.
#
#   scripts/audit.sh PIP_AUDIT LOCK_FILE
#
# pip-audit asks PyPI's advisory data (the one service CI can reach) about every pinned version of the lock
# file, without installing anything. A vulnerability found fails the run, unless its id is listed in
# .pip-audit-ignore with the reason it does not apply (one `ID  # why` a line). The advisory service
# being unreachable does not fail the run — a CI run must not fail for a network blip — but says so
# loudly, and so does every package it could not look up (docs/operations.md §10).
set -uo pipefail
pip_audit=$1
lock=$2
cd "$(dirname "$0")/.."

ignore=()
if [[ -f .pip-audit-ignore ]]; then
    while read -r id _; do
        [[ -n "$id" && "$id" != \#* ]] && ignore+=(--ignore-vuln "$id")
    done < .pip-audit-ignore
fi

report=$(mktemp)
trap 'rm -f "$report"' EXIT
"$pip_audit" --vulnerability-service pypi --disable-pip --require-hashes -r "$lock" \
    --format json --output "$report" --progress-spinner off "${ignore[@]}"
status=$?

if [[ ! -s "$report" ]]; then
    echo "audit: WARNING: pip-audit could not run (exit $status): no vulnerability data this time" >&2
    exit 0
fi
python3 - "$report" "$status" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1]))
status = int(sys.argv[2])
found = [(d["name"], d["version"], v["id"], v.get("fix_versions")) for d in report["dependencies"] for v in d.get("vulns", [])]
skipped = [d["name"] for d in report["dependencies"] if d.get("skip_reason")]
audited = len(report["dependencies"]) - len(skipped)
for name, version, vuln, fixes in found:
    print(f"audit: {name} {version}: {vuln} (fixed in {', '.join(fixes) or 'no release yet'})")
if skipped:
    print(f"audit: WARNING: {len(skipped)} of {len(report['dependencies'])} packages could not be looked up "
          f"(the advisory service did not answer for them): {', '.join(skipped[:10])}{' …' if len(skipped) > 10 else ''}",
          file=sys.stderr)
print(f"audit: {audited} packages audited, {len(found)} known vulnerabilities")
sys.exit(1 if found else 0)
PY
