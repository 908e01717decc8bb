#!/usr/bin/env bash
# The test command of vpclab (CI runs exactly this, through .ci/run): as root,
# installs missing system tools, checks the code's form (cargo fmt --check, cargo
# clippy --all-targets -D warnings, cargo doc without broken intra-doc links),
# builds every target once (dev/test profile), runs the whole suite with cargo
# test under a timeout, runs the seeds' walkthroughs, checks that nothing of a lab
# was left behind (vl-* namespaces and links, mounts, /run/vpclab/<lab>,
# /var/lib/vpclab/<lab>, vpclab processes), and ends with "N passed, M failed".
#
#   netns-scripts/test.sh [cargo test args...]
#   e.g. netns-scripts/test.sh dataplane            (a test name filter)
#        netns-scripts/test.sh -- --test-threads 2  (args for the test harness)
#
# M counts everything that went wrong, so that the last line and the exit code agree:
# failed tests, a test binary that failed without a result line of its own (it
# crashed: one failure, named), cargo test failing with no failed test, a timeout, a
# failed walkthrough, each kind of leftover, each failed form check (fmt, clippy,
# doc), the build and the fuzz targets' check. The form checks come first; when one
# fails, nothing is built or run (the last line still says so).
#
# Environment: VPCLAB_TEST_TIMEOUT, the limit for the cargo test run (timeout(1)'s
# DURATION, default 60m), and VPCLAB_WALK_TIMEOUT, for each walkthrough (default 10m): a
# full run takes 5 to 15 minutes (built or from scratch); a hang is reported (as one
# failure) well within CI's 90 minutes, with room for the checks, the build and the
# walkthroughs around it.
#
# Re-runs itself through sudo when not root. Exits non-zero when anything above
# failed or no test ran.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"

passed=0
failed=0
ignored=0
status=0

# A failure that is not a test's: say what, count it, make the exit code non-zero.
vl_failure() {
    vl_say "FAILED: $*"
    failed=$((failed + 1))
    status=1
}

# The last line, and the exit code that agrees with it.
vl_finish() {
    if [[ ${ignored} -gt 0 ]]; then
        vl_say "${ignored} ignored"
    fi
    if [[ ${failed} -gt 0 ]]; then
        status=1
    fi
    printf '%d passed, %d failed\n' "${passed}" "${failed}"
    exit "${status}"
}

vl_indent() {
    sed 's/^/    /'
}

# The pids of this script and of everything it started (their command lines may name
# vpclab: they are not a lab's processes).
vl_own_pids() {
    local pid ppid comm rest
    local -A parent=()
    for stat in /proc/[0-9]*/stat; do
        # pid (comm) state ppid ...: comm may hold spaces, so cut after the last ')'.
        read -r rest <"${stat}" 2>/dev/null || continue
        pid="${rest%% *}"
        comm="${rest##*) }"
        read -r _ ppid _ <<<"${comm}"
        parent[${pid}]="${ppid}"
    done
    for pid in "${!parent[@]}"; do
        ppid="${pid}"
        while [[ -n ${ppid} && ${ppid} != 0 && ${ppid} != 1 ]]; do
            if [[ ${ppid} == "$$" ]]; then
                echo "${pid}"
                break
            fi
            ppid="${parent[${ppid}]:-}"
        done
    done
}

# Everything of a lab on the host, one "kind what" a line: vl-* network namespaces and
# links, mounts under /run/vpclab, /var/lib/vpclab and /run/netns/vl-*, labs' directories in
# /run/vpclab and /var/lib/vpclab, and processes whose command line names vpclab (but this
# script's own).
vl_leftovers() {
    local procs own d
    # pgrep first, then this script's tree: a subshell of this function that pgrep saw is
    # still alive, so it is in the tree.
    procs="$(pgrep -af vpclab 2>/dev/null || true)"
    own=" $(vl_own_pids | tr '\n' ' ') "
    {
        ip netns list 2>/dev/null | awk '$1 ~ /^vl-/ { print "netns", $1 }'
        ip -o link show 2>/dev/null |
            awk -F': ' '{ split($2, n, "@"); if (n[1] ~ /^vl-/) print "link", n[1] }'
        awk '$5 ~ /^\/run\/vpclab(\/|$)/ || $5 ~ /^\/var\/lib\/vpclab(\/|$)/ || $5 ~ /^\/run\/netns\/vl-/ {
            print "mount", $5 }' /proc/self/mountinfo
        for d in /run/vpclab/* /var/lib/vpclab/*; do
            [[ -e ${d} ]] && echo "dir ${d}"
        done
        while read -r pid cmd; do
            # Not a lab's: gone since (e.g. the subshell that ran pgrep), or a build of the
            # vpclab crate going on elsewhere (its command line names the crate).
            [[ -z ${pid} || ${own} == *" ${pid} "* || ! -d /proc/${pid} ]] && continue
            case "${cmd%% *}" in
            */rustc | rustc | */cargo | cargo | */rustdoc | rustdoc | */clippy-driver | clippy-driver) continue ;;
            esac
            echo "process ${pid} ${cmd}"
        done <<<"${procs}"
    } | sort -u
}

# What `vl_leftovers` lists now and did not list in `before`.
vl_new_leftovers() {
    comm -13 <(printf '%s\n' "${before}") <(vl_leftovers) | sed '/^$/d'
}

# A lab the user is running is not a leak of the tests: only count new things.
before="$(vl_leftovers)"
if [[ -n ${before} ]]; then
    vl_say "already present before the tests (not counted as leaks):"
    vl_indent <<<"${before}"
fi

# The code's form, before anything is built or run: each check that fails is one failure,
# and then nothing else runs.
vl_say "cargo fmt --check"
if ! cargo fmt --check; then
    vl_failure "cargo fmt --check: the code is not formatted (run cargo fmt)"
fi
clippy_cmd=(cargo clippy --all-targets "${VL_LOCKED[@]}" -- -D warnings)
vl_say "${clippy_cmd[*]}"
if ! "${clippy_cmd[@]}"; then
    vl_failure "${clippy_cmd[*]}"
fi
doc_cmd=(cargo doc --no-deps "${VL_LOCKED[@]}")
vl_say "RUSTDOCFLAGS=\"-D rustdoc::broken_intra_doc_links\" ${doc_cmd[*]}"
if ! RUSTDOCFLAGS="-D rustdoc::broken_intra_doc_links" "${doc_cmd[@]}"; then
    vl_failure "cargo doc: broken intra-doc links"
fi
if [[ ${failed} -gt 0 ]]; then
    vl_say "the form checks failed: nothing built or run"
    vl_finish
fi

build_cmd=(cargo build --all-targets "${VL_LOCKED[@]}")
vl_say "${build_cmd[*]}"
if ! "${build_cmd[@]}"; then
    vl_failure "the build"
    vl_finish
fi

# The fuzz targets use the library's internals: check they still compile (stable, no
# sanitizer; running them is `cargo fuzz run`, see fuzz/Cargo.toml).
fuzz_cmd=(cargo check --manifest-path fuzz/Cargo.toml --bins "${VL_LOCKED[@]}")
vl_say "${fuzz_cmd[*]}"
if ! "${fuzz_cmd[@]}"; then
    vl_failure "the fuzz targets do not compile"
    vl_finish
fi

# Where cargo put the binary (honours CARGO_TARGET_DIR and .cargo/config build.target-dir),
# to take down a lab that a killed test left up.
target_dir="$(cargo metadata --format-version 1 --no-deps "${VL_LOCKED[@]}" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null)" ||
    target_dir="${PWD}/target"
vpclab="${target_dir}/debug/vpclab"

log="$(mktemp /tmp/vpclab-test.XXXXXX)"
trap 'rm -f "${log}" "${log}.walk"' EXIT

limit="${VPCLAB_TEST_TIMEOUT:-60m}"
test_cmd=(cargo test --all-targets --no-fail-fast "${VL_LOCKED[@]}" "$@")
vl_say "timeout ${limit} ${test_cmd[*]}"
set +e
timeout --kill-after=60s "${limit}" "${test_cmd[@]}" 2>&1 | tee "${log}"
rc=${PIPESTATUS[0]}
set -e

# Sum every "test result: ok. 3 passed; 0 failed; 1 ignored; ..." line, and name each test
# binary that cargo says failed ("error: test failed, to rerun pass `--test lab`", printed
# after the binary ran, possibly on the line of the test that was running) while the
# results it printed since its "Running ..." line count no failure: it crashed, or failed
# after its tests.
read -r tpassed tfailed tignored crashed < <(awk -v crashed_file="${log}.crashed" '
    /^ *Running / { cur_failed = 0 }
    /^test result:/ {
        for (i = 2; i <= NF; i++) {
            if ($i ~ /^passed;?$/)  p += $(i - 1)
            if ($i ~ /^failed;?$/)  { f += $(i - 1); cur_failed += $(i - 1) }
            if ($i ~ /^ignored;?$/) g += $(i - 1)
        }
    }
    /error: test failed, to rerun pass `/ {
        if (cur_failed == 0) {
            name = $0
            sub(/.*to rerun pass `/, "", name)
            sub(/`.*/, "", name)
            c++
            print name > crashed_file
        }
        cur_failed = 0
    }
    END { printf "%d %d %d %d\n", p, f, g, c }' "${log}")
passed=$((passed + tpassed))
failed=$((failed + tfailed))
ignored=$((ignored + tignored))

if [[ ${crashed} -gt 0 ]]; then
    while read -r target; do
        vl_failure "test binary ${target} failed with no failed test in its results (it crashed?)"
    done <"${log}.crashed"
fi
rm -f "${log}.crashed"
if [[ ${rc} -eq 124 || ${rc} -eq 137 ]]; then
    vl_failure "cargo test timed out after ${limit} (VPCLAB_TEST_TIMEOUT)"
elif [[ ${rc} -ne 0 && ${tfailed} -eq 0 && ${crashed} -eq 0 ]]; then
    vl_failure "cargo test exited ${rc} with no failed test"
elif [[ ${rc} -ne 0 ]]; then
    vl_say "cargo test failed (exit ${rc})"
    status=1
fi
if [[ $((tpassed + tfailed)) -eq 0 ]]; then
    vl_failure "cargo test ran no test"
fi

# The seeds' walkthroughs, as a user runs them (only for a full run); each counts as one test.
walk_limit="${VPCLAB_WALK_TIMEOUT:-10m}"
if [[ $# -eq 0 ]]; then
    for walk in gateway-endpoint interface-endpoint endpoint-service; do
        vl_say "netns-scripts/${walk}.sh (the walkthrough, end to end)"
        walk_rc=0
        VPCLAB_LAB="vltest_${walk%%-*}$$" timeout --kill-after=30s "${walk_limit}" \
            bash "netns-scripts/${walk}.sh" >"${log}.walk" 2>&1 || walk_rc=$?
        if [[ ${walk_rc} -eq 0 ]]; then
            vl_say "walkthrough ${walk}: ok"
            passed=$((passed + 1))
        else
            if [[ ${walk_rc} -eq 124 || ${walk_rc} -eq 137 ]]; then
                vl_say "walkthrough ${walk}: timed out after ${walk_limit} (VPCLAB_WALK_TIMEOUT)"
            fi
            vl_say "walkthrough ${walk}: FAILED; its output:"
            vl_indent <"${log}.walk"
            failed=$((failed + 1))
            status=1
        fi
        rm -f "${log}.walk"
    done
else
    vl_say "walkthroughs skipped (a filtered run)"
fi

leaked="$(vl_new_leftovers)"
if [[ -n ${leaked} ]]; then
    # A process that was ending as we looked (another user's `vpclab exec`, a lab's last
    # child being reaped) is not a leak: count only what is still there a moment later.
    sleep 2
    leaked="$(comm -12 <(printf '%s\n' "${leaked}") <(vl_new_leftovers))"
fi
if [[ -n ${leaked} ]]; then
    vl_say "tests left these behind (every test must clean up, also when it fails):"
    vl_indent <<<"${leaked}"
    for kind in netns link mount dir process; do
        if grep -q "^${kind} " <<<"${leaked}"; then
            vl_failure "leaked: ${kind}"
        fi
    done
    # Take down the labs the tests left up (a test killed by the timeout never ran its
    # guard), so that the next run starts clean; what was leaked has been counted above.
    # Only labs whose router is this build's binary: a lab someone else brought up while
    # the tests ran is not ours to take down.
    if [[ -x ${vpclab} ]]; then
        { grep -F "${vpclab} up " <<<"${leaked}" || true; } | sed -n 's/.* --name \([^ ]*\).*/\1/p' | sort -u |
            while read -r name; do
                vl_say "vpclab down --name ${name} (left by the tests)"
                "${vpclab}" down --name "${name}" 2>&1 | vl_indent || true
            done
    fi
else
    vl_say "nothing left behind: no vl-* namespace, link or mount, no lab directory, no vpclab process"
fi

vl_finish
