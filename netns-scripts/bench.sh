#!/usr/bin/env bash
# Measures vpclab on real namespaces, each figure beside a baseline run on the same
# machine at the same time:
#
#   netns-scripts/bench.sh [throughput]
#                                    the default: the kernel routing between namespaces
#                                    beside vpclab intra-VPC, through an NLB, through
#                                    PrivateLink and through the IGW, and slirp4netns and
#                                    pasta; iperf3 1 and 4 streams, 64-byte UDP, idle and
#                                    loaded ping, connections/s, router CPU per GB; and
#                                    intra-VPC again with 10,000 more routes per route table
#                                    and 1,000 idle tracked flows ("no collapse")
#                                    (netns-scripts/bench.py; JSON, CSV and a PNG plot too)
#   netns-scripts/bench.sh lab [N]   up/down times of the seed-2 lab and of a generated
#                                    N-instance lab (default 100), idle ping RTT between
#                                    instances against a veth pair between two namespaces
#   netns-scripts/bench.sh privatelink
#                                    the same rows through an NLB and through PrivateLink,
#                                    with instance to instance as the baseline
#   netns-scripts/bench.sh workers   intra-VPC with 1 router worker and with 2 (multi-queue
#                                    TAPs, `up --workers N`) beside the kernel
#   netns-scripts/bench.sh micro     the criterion benches (cargo bench)
#
# Release build. Re-runs itself through sudo when not root. Nothing is left behind: the
# labs are taken down and the baseline namespaces removed on every exit path.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vl_prepare "$@"
what="${1:-throughput}"
count="${2:-100}"

if [[ ${what} == micro ]]; then
    vl_say "cargo bench (criterion; compare each bench with its baseline row)"
    cargo bench "${VL_LOCKED[@]}"
    exit 0
fi
[[ ${what} == lab || ${what} == privatelink || ${what} == throughput || ${what} == workers ]] ||
    vl_die "usage: bench.sh [throughput] | bench.sh lab [N] | bench.sh privatelink | bench.sh workers | bench.sh micro"

vl_say "cargo build --release"
cargo build --release "${VL_LOCKED[@]}"
target_dir="$(cargo metadata --format-version 1 --no-deps "${VL_LOCKED[@]}" 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
vpclab="${target_dir}/release/vpclab"

work="$(mktemp -d /tmp/vpclab-bench.XXXXXX)"
labs=()
cleanup() {
    local l
    for l in "${labs[@]}"; do "${vpclab}" down --name "${l}" >/dev/null 2>&1 || true; done
    ip netns del vlbench_a 2>/dev/null || true
    ip netns del vlbench_b 2>/dev/null || true
    pkill -f "slirp4netns --configure --mtu=65520 --netns-type=path /var/run/netns/vlbk_s" 2>/dev/null || true
    pkill -f "pasta -q --runas 0 --config-net --no-map-gw --netns vlbk_p" 2>/dev/null || true
    pkill -f "iperf3 -s -1 -D -p 530[12] -B 127.0.0.1" 2>/dev/null || true
    for n in vlbk_a vlbk_r vlbk_b vlbk_s vlbk_p; do ip netns del "${n}" 2>/dev/null || true; done
    rm -rf "${work}"
}
trap cleanup EXIT

# throughput: the kernel routing between namespaces beside vpclab's paths and the peers;
# privatelink: the NLB and PrivateLink paths beside instance to instance. Interleaved rounds,
# medians and ratios to the first path (netns-scripts/bench.py).
if [[ ${what} == throughput || ${what} == privatelink || ${what} == workers ]]; then
    if [[ ${what} == workers ]]; then
        paths=kernel,intra-VPC/1w,intra-VPC/2w seconds=3 name=vlbench_wk
    elif [[ ${what} == throughput ]]; then
        paths=kernel,intra-VPC,intra-VPC+10k,NLB,PrivateLink,IGW,slirp4netns,pasta seconds=3 name=vlbench_tp
        for pkg in slirp4netns passt; do
            tool="${pkg/passt/pasta}"
            command -v "${tool}" >/dev/null 2>&1 && continue
            vl_say "installing ${pkg} (bench only: the peers' rows)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkg}" >/dev/null ||
                vl_die "cannot install ${pkg}: install it (apt-get install ${pkg}) and run again"
        done
    else
        paths=intra-VPC,NLB,PrivateLink seconds=5 name=vlbench_pl
    fi
    # bench.py draws its plot with matplotlib: run it with a python3 that has it (Debian's
    # first, since another python3 may come first on PATH), else install Debian's.
    py=""
    for p in /usr/bin/python3 "$(command -v python3 || true)"; do
        if [[ -x ${p} ]] && "${p}" -c 'import matplotlib' 2>/dev/null; then
            py="${p}"
            break
        fi
    done
    if [[ -z ${py} ]]; then
        vl_say "installing python3-matplotlib (bench only: the plot)"
        py=/usr/bin/python3
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-matplotlib >/dev/null ||
            ! "${py}" -c 'import matplotlib' 2>/dev/null; then
            vl_die "cannot install python3-matplotlib for ${py} (the plot): install it (apt-get install python3-matplotlib) and run again"
        fi
    fi
    # The second lab is intra-VPC+10k's (when the paths have it); both go down on exit.
    labs+=("${name}" "${name}r" "${name}w1" "${name}w2")
    out="${target_dir}/bench-${what}"
    vl_say "${paths//,/, } (benches/labs/privatelink.yaml); also in ${out}/bench.{json,csv,png}"
    "${py}" netns-scripts/bench.py --vpclab "${vpclab}" --lab "${name}" --routes-lab "${name}r" --out "${out}" \
        --paths "${paths}" --rounds "${VL_BENCH_ROUNDS:-3}" --seconds "${VL_BENCH_SECONDS:-${seconds}}"
    echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    exit 0
fi

# A lab of N instances: one VPC, four /24 subnets, one group that allows the VPC.
python3 - "${count}" >"${work}/many.yaml" <<'EOF'
import sys
n = int(sys.argv[1])
print("AWSTemplateFormatVersion: '2010-09-09'\nResources:")
print("  Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}")
print("  Sg: {Type: AWS::EC2::SecurityGroup, Properties: {GroupDescription: bench, VpcId: !Ref Vpc,"
      " SecurityGroupIngress: [{IpProtocol: '-1', CidrIp: 10.0.0.0/16}]}}")
for s in range(4):
    print(f"  Sn{s}: {{Type: AWS::EC2::Subnet, Properties: {{VpcId: !Ref Vpc, CidrBlock: 10.0.{s}.0/24}}}}")
for i in range(n):
    print(f"  I{i}: {{Type: AWS::EC2::Instance, Properties: {{InstanceType: t3.micro, ImageId: ami-1,"
          f" SubnetId: !Ref Sn{i % 4}, SecurityGroupIds: [!Ref Sg]}}}}")
EOF
"${vpclab}" validate "${work}/many.yaml" >/dev/null

seconds() { python3 -c 'import sys,time; print(f"{time.time():.3f}")'; }
timed() { # name template -> "up down" seconds
    local name="$1" template="$2" t0 t1 t2
    t0="$(seconds)"
    "${vpclab}" up "${template}" --name "${name}" --detach >"${work}/${name}.up" 2>&1
    labs+=("${name}")
    t1="$(seconds)"
    "${vpclab}" down --name "${name}" >/dev/null
    t2="$(seconds)"
    python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f} {float(sys.argv[3])-float(sys.argv[2]):.2f}')" "${t0}" "${t1}" "${t2}"
}

vl_say "up/down: seed-2 lab (2 instances + the internet), 3 runs"
for r in 1 2 3; do echo "  seed2 run ${r}: up/down s = $(timed "vlbench_s${r}" templates/seed2-gateway-endpoint.yaml)"; done
vl_say "up/down: ${count}-instance lab, 1 run"
echo "  ${count} instances: up/down s = $(timed vlbench_many "${work}/many.yaml")"

# Idle RTT: instance to instance through the router, against a veth pair.
vl_say "idle ping RTT, 500 pings at 10 ms"
"${vpclab}" up templates/seed2-gateway-endpoint.yaml --name vlbench_rtt --detach >/dev/null
labs+=(vlbench_rtt)
private="$("${vpclab}" describe instances CloudNetaPrivateEC2 --name vlbench_rtt |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Reservations"][0]["Instances"][0]["PrivateIpAddress"])')"
ip netns add vlbench_a
ip netns add vlbench_b
ip link add vlbench0 netns vlbench_a type veth peer name vlbench1 netns vlbench_b
ip -n vlbench_a addr add 192.0.2.1/24 dev vlbench0
ip -n vlbench_b addr add 192.0.2.2/24 dev vlbench1
ip -n vlbench_a link set vlbench0 up
ip -n vlbench_b link set vlbench1 up
rtt() { grep -o 'rtt.*' | cut -d= -f2 | cut -d/ -f1-3; }
echo "  veth baseline  min/avg/max ms: $(ip netns exec vlbench_a ping -q -c 500 -i 0.01 192.0.2.2 | rtt)"
echo "  vpclab router  min/avg/max ms: $("${vpclab}" exec --name vlbench_rtt CloudNetaPublicEC2 -- ping -q -c 500 -i 0.01 "${private}" | rtt)"

# TCP throughput instance to instance through the router (iperf3 on port 80, which the
# seed's group allows), against the same over the veth pair. 3 runs of 5 s each.
vl_say "TCP throughput, iperf3 -t 5, 3 runs"
for run in 1 2 3; do
    ip netns exec vlbench_b iperf3 -s -D -1 -p 5201 >/dev/null
    "${vpclab}" exec --name vlbench_rtt CloudNetaPrivateEC2 -- iperf3 -s -D -1 -p 80 >/dev/null
    sleep 0.3
    base="$(ip netns exec vlbench_a iperf3 -c 192.0.2.2 -p 5201 -t 5 -J |
        python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum_received"]; print("%.2f" % (d["bits_per_second"]/1e9))')"
    lab="$("${vpclab}" exec --name vlbench_rtt CloudNetaPublicEC2 -- iperf3 -c "${private}" -p 80 -t 5 -J |
        python3 -c 'import json,sys; d=json.load(sys.stdin)["end"]["sum_received"]; print("%.2f" % (d["bits_per_second"]/1e9))')"
    echo "  run ${run}: veth ${base} Gbit/s, vpclab router ${lab} Gbit/s"
done

# Amazon DNS from one instance: dnsperf for 10 s against base+2 (AWS allows 1024 packets/s
# per ENI; vpclab enforces the same, so the figure to expect is that limit).
if ! command -v dnsperf >/dev/null 2>&1; then
    vl_say "installing dnsperf (bench only)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsperf >/dev/null
fi
vl_say "Amazon DNS queries/s from one instance (dnsperf, 10 s at 1000 and at 2000 queries/s)"
printf '%s A\n' s3.ap-northeast-2.amazonaws.com "ip-${private//./-}.ap-northeast-2.compute.internal" \
    dynamodb.ap-northeast-2.amazonaws.com nonexistent.example.com |
    "${vpclab}" exec --name vlbench_rtt CloudNetaPublicEC2 -- sh -c 'cat > /tmp/queries'
for rate in 1000 2000; do
    echo "  offered ${rate}/s:"
    "${vpclab}" exec --name vlbench_rtt CloudNetaPublicEC2 -- \
        dnsperf -s 10.0.0.2 -d /tmp/queries -l 10 -q 200 -Q "${rate}" -t 1 |
        grep -E 'Queries (completed|lost)|Queries per second|Average Latency' | sed 's/^ */    /'
done

# S3 GET of 1 GiB: through the gateway endpoint (private instance) and through the IGW
# (public instance, to us-east-1's S3, which no endpoint of this lab covers); the baseline is
# curl reading the same bytes from a file in the instance (no network).
vl_say "S3 GET of 1 GiB (curl, bytes/s)"
s3="s3.ap-northeast-2.amazonaws.com"
"${vpclab}" exec --name vlbench_rtt CloudNetaPrivateEC2 -- sh -c \
    "dd if=/dev/zero of=/tmp/g1 bs=1M count=1024 status=none &&
     curl -sf -X PUT http://${s3}/bench >/dev/null && curl -sf -T /tmp/g1 http://${s3}/bench/g1 >/dev/null" ||
    vl_die "could not put the 1 GiB object"
"${vpclab}" exec --name vlbench_rtt CloudNetaPublicEC2 -- sh -c \
    "dd if=/dev/zero of=/tmp/g1 bs=1M count=1024 status=none &&
     curl -sf -X PUT http://s3.us-east-1.amazonaws.com/bench-igw >/dev/null &&
     curl -sf -T /tmp/g1 http://s3.us-east-1.amazonaws.com/bench-igw/g1 >/dev/null" ||
    vl_die "could not put the 1 GiB object through the IGW"
speed() { # instance url
    "${vpclab}" exec --name vlbench_rtt "$1" -- curl -sf -o /dev/null -w '%{speed_download}' "$2"
}
gbit() { python3 -c "import sys; print(f'{float(sys.argv[1])*8/1e9:.2f} Gbit/s')" "$1"; }
for run in 1 2 3; do
    echo "  run ${run}: baseline file:// $(gbit "$(speed CloudNetaPrivateEC2 file:///tmp/g1)")," \
        "endpoint $(gbit "$(speed CloudNetaPrivateEC2 "http://${s3}/bench/g1")")," \
        "IGW $(gbit "$(speed CloudNetaPublicEC2 http://s3.us-east-1.amazonaws.com/bench-igw/g1)")"
done
router_pid="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' /run/vpclab/vlbench_rtt/state.json 2>/dev/null || true)"
[[ -n ${router_pid} ]] && echo "  router peak RSS: $(grep VmHWM "/proc/${router_pid}/status" | tr -s ' ')"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
