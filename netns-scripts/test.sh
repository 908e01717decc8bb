#!/usr/bin/env bash
# The test command of vpclab (CI runs exactly this, through .ci/run): as root,
# installs missing system tools, builds every target once (dev/test profile),
# runs the whole suite with cargo test, checks that the tests left no vl-*
# network namespace or link behind, and ends with "N passed, N failed".
#
#   netns-scripts/test.sh [cargo test args...]
#   e.g. netns-scripts/test.sh dataplane            (a test name filter)
#        netns-scripts/test.sh -- --test-threads 2  (args for the test harness)
#
# Re-runs itself through sudo when not root. Exits non-zero when the build or
# any test fails, when no test ran, or when tests leaked namespaces or links.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"

# Every vl-* network namespace and link on the host, one "kind name" a line.
vl_leftovers() {
    {
        ip netns list 2>/dev/null | awk '{ print "netns", $1 }'
        ip -o link show 2>/dev/null | awk -F': ' '{ split($2, n, "@"); print "link", n[1] }'
    } | awk '$2 ~ /^vl-/' | sort -u
}

vl_indent() {
    sed 's/^/    /'
}

# A lab the user is running is not a leak of the tests: only count new names.
before="$(vl_leftovers)"
if [[ -n ${before} ]]; then
    vl_say "already present before the tests (not counted as leaks):"
    vl_indent <<<"${before}"
fi

build_cmd=(cargo build --all-targets "${VL_LOCKED[@]}")
vl_say "${build_cmd[*]}"
if ! "${build_cmd[@]}"; then
    vl_say "build failed"
    exit 1
fi

# The fuzz targets use the library's internals: check they still compile (stable, no
# sanitizer; running them is `cargo fuzz run`, see fuzz/Cargo.toml).
fuzz_cmd=(cargo check --manifest-path fuzz/Cargo.toml --bins "${VL_LOCKED[@]}")
vl_say "${fuzz_cmd[*]}"
if ! "${fuzz_cmd[@]}"; then
    vl_say "the fuzz targets do not compile"
    exit 1
fi

log="$(mktemp /tmp/vpclab-test.XXXXXX)"
trap 'rm -f "${log}"' EXIT

test_cmd=(cargo test --all-targets --no-fail-fast "${VL_LOCKED[@]}" "$@")
vl_say "${test_cmd[*]}"
set +e
"${test_cmd[@]}" 2>&1 | tee "${log}"
rc=${PIPESTATUS[0]}
set -e

# Sum every "test result: ok. 3 passed; 0 failed; 1 ignored; ..." line.
read -r passed failed ignored < <(awk '
    /^test result:/ {
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^passed;?$/)  p += $(i - 1)
            if ($i ~ /^failed;?$/)  f += $(i - 1)
            if ($i ~ /^ignored;?$/) g += $(i - 1)
        }
    }
    END { printf "%d %d %d\n", p, f, g }' "${log}")

status=0
if [[ ${rc} -ne 0 ]]; then
    vl_say "cargo test failed (exit ${rc})"
    status=${rc}
fi
if [[ $((passed + failed)) -eq 0 ]]; then
    vl_say "cargo test ran no test"
    [[ ${status} -ne 0 ]] || status=1
fi

# The seeds' walkthroughs, as a user runs them (only for a full run); each counts as one test.
if [[ $# -eq 0 ]]; then
    for walk in gateway-endpoint interface-endpoint endpoint-service; do
        vl_say "netns-scripts/${walk}.sh (the walkthrough, end to end)"
        if VPCLAB_LAB="vltest_${walk%%-*}$$" bash "netns-scripts/${walk}.sh" >"${log}.walk" 2>&1; then
            vl_say "walkthrough ${walk}: ok"
            passed=$((passed + 1))
        else
            vl_say "walkthrough ${walk}: FAILED; its output:"
            vl_indent <"${log}.walk"
            failed=$((failed + 1))
            [[ ${status} -ne 0 ]] || status=1
        fi
        rm -f "${log}.walk"
    done
fi

after="$(vl_leftovers)"
leaked="$(comm -13 <(printf '%s\n' "${before}") <(printf '%s\n' "${after}") | sed '/^$/d')"
if [[ -n ${leaked} ]]; then
    vl_say "tests left these behind (every test must clean up, also when it fails):"
    vl_indent <<<"${leaked}"
    [[ ${status} -ne 0 ]] || status=1
else
    vl_say "no vl-* namespace or link left behind"
fi

if [[ ${ignored} -gt 0 ]]; then
    vl_say "${ignored} ignored"
fi
printf '%d passed, %d failed\n' "${passed}" "${failed}"
exit "${status}"
