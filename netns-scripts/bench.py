#!/usr/bin/env python3
"""vpclab beside the kernel: one table of throughput, packet rate, latency and connection rate.

Run by `netns-scripts/bench.sh` (which builds the release binary, installs the tools and
cleans up); not meant to be run alone. Every row is measured on every path in interleaved
rounds (kernel, vpclab, kernel, vpclab, ...) and reported as median with min-max and the ratio
to the kernel in the same run:

  kernel       two namespaces routed through a third over veth pairs, ip_forward on, MTU 9001
  intra-VPC    Client2 -> Server, two subnets of one VPC, SG + NACL + conntrack
  intra-VPC+10k  the same on a second lab whose two route tables on that path hold 10,000 more
               routes each, with 1,000 idle tracked flows present (issue 11's "no collapse"
               row: only 1 TCP stream, 64-byte UDP and idle ping, compared with intra-VPC)
  NLB          Client2 -> the internal NLB's node -> Server
  PrivateLink  Client (another VPC) -> its endpoint ENI -> the NLB node -> Server
  IGW          the emulated internet -> Server's public IP (1500 MTU, NAT)
  intra-VPC/Nw intra-VPC on a lab of its own started with `up --workers N` (N router workers,
               N queues on every TAP; `bench.sh workers` compares 1 and 2)
  slirp4netns  a namespace to the host's loopback through slirp4netns (10.0.2.2)
  pasta        a namespace to the host's loopback through pasta (its -T/-U port forwards)

The lab is benches/labs/privatelink.yaml (intra-VPC+10k: a template generated from it into
--out, on the lab --routes-lab). Output: a table on stdout, then a snippet for the README; JSON,
CSV and a plot (bench.png, matplotlib) in --out. Everything it starts is stopped by bench.sh's
cleanup (the labs go down, the kernel baseline's namespaces are deleted).
"""

import argparse
import csv
import re
import ipaddress
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

ACCEPT = r'''
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4096)
while True:
    try:
        c, _ = s.accept(); c.close()
    except OSError:
        pass
'''

CONNECT = r'''
import selectors, socket, struct, sys, time
host, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
sel = selectors.DefaultSelector(); done = 0; end = time.time() + secs
linger = struct.pack("ii", 1, 0)
def start():
    c = socket.socket(); c.setblocking(False)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    c.connect_ex((host, port)); sel.register(c, selectors.EVENT_WRITE)
for _ in range(64): start()
while time.time() < end:
    for key, _ in sel.select(0.5):
        c = key.fileobj; sel.unregister(c)
        if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0: done += 1
        c.close(); start()
print(f"{done / secs:.0f}")
'''

KA, KR, KB = "vlbk_a", "vlbk_r", "vlbk_b"
SLIRP, PASTA = "vlbk_s", "vlbk_p"
# The peers reach a server on the host's loopback (never a real address): slirp4netns maps
# 10.0.2.2 to it; pasta forwards the namespace's own 127.0.0.1 ports 5301/5302 to it (-T/-U).
PEER_PORTS = (5301, 5302)
K_SERVER = "10.0.1.10"

# The "no collapse" row: intra-VPC on a lab with ROUTES more routes in each route table on the
# path and FLOWS idle tracked flows (one UDP datagram each from Client2 to Server's ports
# FLOW_PORT...). A UDP flow seen one way only is tracked for FLOW_IDLE s (AWS's timeout, the
# router's default), so they are sent again before a measurement that could outlive them.
ROUTES_PATH = "intra-VPC+10k"
ROUTES, FLOWS, FLOW_PORT, FLOW_IDLE = 10_000, 1_000, 20_000, 30
ROUTES_ROWS = ("1 TCP stream (Gbit/s)", "64-byte UDP delivered (kpps)", "idle ping avg (ms)")

SEND_FLOWS = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(int(sys.argv[2]), int(sys.argv[2]) + int(sys.argv[3])):
    s.sendto(b"x", (sys.argv[1], port))
'''

# Rows where a smaller figure is the better one; the others are better higher.
LOWER_BETTER = ("64-byte UDP loss (%)", "idle ping avg (ms)", "loaded ping avg (ms)",
                "router CPU s/GB (1 stream)")
# Where the README's snippet expects the plot (bench.sh writes it to --out/bench.png).
PLOT_LINK = "docs/bench-throughput.png"


def run(cmd, check=True, timeout=120, stdin=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=stdin)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()[-400:]}")
    return p.stdout


class Side:
    """Where a command runs: a kernel namespace, or an instance of the lab."""

    def __init__(self, vpclab, lab, where):
        self.vpclab, self.lab, self.where = vpclab, lab, where

    def cmd(self, args):
        if self.where == "host":
            return args
        if self.where.startswith("vlbk_"):
            return ["ip", "netns", "exec", self.where] + args
        return [self.vpclab, "exec", "--name", self.lab, self.where, "--"] + args

    def run(self, args, **kw):
        return run(self.cmd(args), **kw)

    def spawn(self, args):
        return subprocess.Popen(self.cmd(args), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def kernel_baseline():
    """A -- R -- B over veth pairs, MTU 9001, routed by R's kernel."""
    for ns in (KA, KR, KB):
        run(["ip", "netns", "add", ns])
    cmds = [
        ["ip", "link", "add", "vlbk0", "netns", KA, "type", "veth", "peer", "name", "vlbk1", "netns", KR],
        ["ip", "link", "add", "vlbk2", "netns", KR, "type", "veth", "peer", "name", "vlbk3", "netns", KB],
        ["ip", "-n", KA, "addr", "add", "10.0.0.10/24", "dev", "vlbk0"],
        ["ip", "-n", KR, "addr", "add", "10.0.0.1/24", "dev", "vlbk1"],
        ["ip", "-n", KR, "addr", "add", "10.0.1.1/24", "dev", "vlbk2"],
        ["ip", "-n", KB, "addr", "add", f"{K_SERVER}/24", "dev", "vlbk3"],
    ]
    for c in cmds:
        run(c)
    for ns, devs in ((KA, ["vlbk0"]), (KR, ["vlbk1", "vlbk2"]), (KB, ["vlbk3"])):
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        for d in devs:
            run(["ip", "-n", ns, "link", "set", d, "mtu", "9001", "up"])
    run(["ip", "-n", KA, "route", "add", "default", "via", "10.0.0.1"])
    run(["ip", "-n", KB, "route", "add", "default", "via", "10.0.1.1"])
    run(["ip", "netns", "exec", KR, "sysctl", "-qw", "net.ipv4.ip_forward=1"])


def peers():
    """slirp4netns and pasta, each with its own namespace; the processes they leave are ended
    by bench.sh's cleanup (and by deleting the namespaces)."""
    run(["ip", "netns", "add", SLIRP])
    subprocess.Popen(["slirp4netns", "--configure", "--mtu=65520", "--netns-type=path",
                      f"/var/run/netns/{SLIRP}", "tap0"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    run(["ip", "netns", "add", PASTA])
    run(["pasta", "-q", "--runas", "0", "--config-net", "--no-map-gw", "--netns", PASTA,
         "--netns-only", "-t", "none", "-u", "none", "-T", "5301,5302", "-U", "5301"])
    deadline = time.time() + 10
    while "10.0.2.100" not in run(["ip", "-n", SLIRP, "-4", "addr"], check=False):
        if time.time() > deadline:
            raise RuntimeError("slirp4netns did not configure its namespace")
        time.sleep(0.1)


def routes_template(path):
    """benches/labs/privatelink.yaml plus ROUTES routes in each route table Client2 -> Server
    looks up: ServerRT (Server's subnet, the replies) and ClientRT, a new table for Client2's
    subnet (which otherwise uses the VPC's main table, where a template cannot add routes; the
    new one has the same local route). The destinations are the first ROUTES /24s of
    100.64.0.0/10 (shared address space: nothing in the lab uses it), all to the VPC's
    internet gateway."""
    with open("benches/labs/privatelink.yaml") as f:
        text = f.read()
    after = text.split("\nResources:\n", 1)[1]
    if any(line[:1] not in ("", " ", "#") for line in after.splitlines()):
        raise RuntimeError("benches/labs/privatelink.yaml: Resources is no longer its last section")
    out = [text.rstrip("\n"), "",
           f"  # bench.py: {ROUTES} routes to 100.64.0.0/10 /24s in each table on Client2 -> Server",
           "  ClientRT:", "    Type: AWS::EC2::RouteTable", "    Properties: {VpcId: !Ref ProviderVPC}",
           "  ClientRTAssoc:", "    Type: AWS::EC2::SubnetRouteTableAssociation",
           "    Properties: {RouteTableId: !Ref ClientRT, SubnetId: !Ref ClientSN}"]
    first = int(ipaddress.IPv4Address("100.64.0.0"))
    for table in ("ServerRT", "ClientRT"):
        for i in range(ROUTES):
            net = ipaddress.IPv4Network((first + (i << 8), 24))
            out.append(f"  {table}R{i}: {{Type: AWS::EC2::Route, DependsOn: ProviderIGWAttachment, "
                       f"Properties: {{RouteTableId: !Ref {table}, DestinationCidrBlock: {net}, "
                       f"GatewayId: !Ref ProviderIGW}}}}")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def num(v):
    """A figure as the table and the plot show it: 3 significant digits, thousands in full."""
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def jdump(vpclab, lab, *what):
    return json.loads(run([vpclab, "describe", *what, "--name", lab]))


def iperf(client, server, addr, args, port=5201):
    """One iperf3 run against a one-off server; the JSON result."""
    bind = ["-B", "127.0.0.1"] if server.where == "host" else []
    server.run(["iperf3", "-s", "-1", "-D", "-p", str(port)] + bind)
    deadline = time.time() + 10
    while True:
        p = subprocess.run(client.cmd(["iperf3", "-c", addr, "-p", str(port), "-J"] + args),
                           capture_output=True, text=True, timeout=60)
        try:
            out = json.loads(p.stdout)
        except json.JSONDecodeError:
            out = {"error": p.stderr or "no output"}
        if "error" not in out:
            return out
        if time.time() > deadline:
            raise RuntimeError(f"iperf3 to {addr}: {out['error']}")
        time.sleep(0.1)


def cpu_ticks(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def ping_avg(client, addr, count=100):
    out = client.run(["ping", "-q", "-c", str(count), "-i", "0.01", "-W", "1", addr], check=False)
    for line in out.splitlines():
        if line.startswith("rtt") or line.startswith("round-trip"):
            return float(line.split("=")[1].split("/")[1])
    return None


def plot(result, order, names, baseline, path):
    """bench.png: one panel per row, a bar per path at its median with its min-max as whiskers;
    the baseline hatched and drawn across the panel as a dashed line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in order if any(r["metric"] == m for r in result["rows"])]
    cols = 2
    nrows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(6.5 * cols, 3.6 * nrows + 1.4), squeeze=False)
    colours = {n: plt.cm.tab10(i % 10) for i, n in enumerate(x for x in names if x != baseline)}
    colours[baseline] = "0.75"
    for ax, metric in zip(axes.flat, metrics):
        got = [(n, next(r for r in result["rows"] if r["metric"] == metric and r["path"] == n))
               for n in names if any(r["metric"] == metric and r["path"] == n for r in result["rows"])]
        xs = range(len(got))
        meds = [r["median"] for _, r in got]
        err = [[r["median"] - r["min"] for _, r in got], [r["max"] - r["median"] for _, r in got]]
        bars = ax.bar(xs, meds, yerr=err, capsize=4, color=[colours[n] for n, _ in got],
                      edgecolor="black", linewidth=0.6)
        for (n, r), b in zip(got, bars):
            if n == baseline:
                b.set_hatch("//")
                ax.axhline(r["median"], color="0.3", linestyle="--", linewidth=0.8, zorder=0)
            ax.annotate(num(r["median"]), (b.get_x() + b.get_width() / 2, r["max"]),
                        xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{n}\n(baseline)" if n == baseline else n for n, _ in got],
                           rotation=30, ha="right", fontsize=8)
        for label, (n, _) in zip(ax.get_xticklabels(), got):
            if n == baseline:
                label.set_fontweight("bold")
        ax.set_title(f"{metric}: {'lower' if metric in LOWER_BETTER else 'higher'} is better", fontsize=10)
        ax.set_ylim(0, max(r["max"] for _, r in got) * 1.15 or 1)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    m = result["machine"]
    fig.suptitle(f"vpclab bench: {m['cores']} cores, {m['cpu']}, Linux {m['kernel']}, {m['date']}\n"
                 f"{result['rounds']} interleaved round{'s' * (result['rounds'] != 1)} of {result['seconds']} s "
                 f"(connections/s: {result['connect_seconds']} s); bar: median, whiskers: "
                 f"min-max; hatched and dashed: {baseline} (the baseline)", fontsize=11)
    nc = result.get("no_collapse")
    if nc:
        fig.text(0.5, 0.005, "\n".join(textwrap.wrap(nc["note"], 140)), ha="center", va="bottom", fontsize=9)
    fig.tight_layout(rect=(0, 0.04 if nc else 0, 1, 0.96))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vpclab", required=True)
    ap.add_argument("--lab", default="vlbench_tp")
    ap.add_argument("--routes-lab", default="vlbench_tpr", help=f"the lab of the {ROUTES_PATH} path")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3,
                    help="of each iperf3 run; the connection rate is counted over a third of it (at least 1 s)")
    ap.add_argument("--paths", default=f"kernel,intra-VPC,{ROUTES_PATH},NLB,PrivateLink,IGW,slirp4netns,pasta",
                    help="which paths, comma-separated; the first is the baseline of the ratios")
    a = ap.parse_args()
    vpclab, lab, t = a.vpclab, a.lab, str(a.seconds)
    # A rate of some thousands of events a second is steady within 1 s; the time it saved pays
    # for intra-VPC+10k and keeps the default run under 5 minutes.
    t_connect = str(max(1, a.seconds // 3))
    # A packet rate of 100k+ a second is steady within 2 s: one second less of each UDP run
    # keeps the default run (with its build) under 5 minutes.
    t_udp = str(max(2, a.seconds - 1))
    wanted = a.paths.split(",")
    baseline = wanted[0]
    try:  # the plot comes at the end: fail before minutes of measuring, not after
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit(f"bench.py: {sys.executable} has no matplotlib for the plot "
                 "(apt-get install python3-matplotlib; bench.sh does)")

    if "kernel" in wanted:
        kernel_baseline()
    if "slirp4netns" in wanted or "pasta" in wanted:
        peers()
    os.makedirs(a.out, exist_ok=True)
    run([vpclab, "up", "benches/labs/privatelink.yaml", "--name", lab, "--detach"], timeout=300)
    side = lambda w: Side(vpclab, lab, w)
    server = run([vpclab, "describe", "instances", "Server", "--name", lab])
    server = json.loads(server)["Reservations"][0]["Instances"][0]
    server_ip, server_public = server["PrivateIpAddress"], server["PublicIpAddress"]
    nlb_dns = jdump(vpclab, lab, "load-balancers")["LoadBalancers"][0]["DNSName"]
    vpce_dns = jdump(vpclab, lab, "vpc-endpoints")["VpcEndpoints"][0]["DnsEntries"][0]["DnsName"]
    node = side("Client2").run(["dig", "+short", nlb_dns]).split()[0]
    eni = side("Client").run(["dig", "+short", vpce_dns]).split()[0]
    with open(f"/run/vpclab/{lab}/state.json") as f:
        router_pid = json.load(f).get("pid")
    routers = {n: router_pid for n in ("intra-VPC", "NLB", "PrivateLink", "IGW")}
    paths = [
        ("kernel", Side(vpclab, lab, KA), Side(vpclab, lab, KB), K_SERVER),
        ("intra-VPC", side("Client2"), side("Server"), server_ip),
        ("NLB", side("Client2"), side("Server"), node),
        ("PrivateLink", side("Client"), side("Server"), eni),
        ("IGW", side("internet"), side("Server"), server_public),
        ("slirp4netns", Side(vpclab, lab, SLIRP), Side(vpclab, lab, "host"), "10.0.2.2"),
        ("pasta", Side(vpclab, lab, PASTA), Side(vpclab, lab, "host"), "127.0.0.1"),
    ]
    if ROUTES_PATH in wanted:
        template = os.path.join(a.out, "privatelink-10k-routes.yaml")
        routes_template(template)
        t_up = time.time()
        run([vpclab, "up", template, "--name", a.routes_lab, "--detach"], timeout=600)
        print(f"  {a.routes_lab} ({2 * ROUTES} more routes) up in {time.time() - t_up:.0f} s", file=sys.stderr)
        side2 = lambda w: Side(vpclab, a.routes_lab, w)
        server2 = jdump(vpclab, a.routes_lab, "instances", "Server")["Reservations"][0]["Instances"][0]
        paths.insert(2, (ROUTES_PATH, side2("Client2"), side2("Server"), server2["PrivateIpAddress"]))
        with open(f"/run/vpclab/{a.routes_lab}/state.json") as f:
            routers[ROUTES_PATH] = json.load(f).get("pid")
        # What the router holds, as the lab describes it (the local route included).
        routes_loaded = {rt: len(jdump(vpclab, a.routes_lab, "route-tables", rt)["RouteTables"][0]["Routes"])
                         for rt in ("ServerRT", "ClientRT")}
        if min(routes_loaded.values()) <= ROUTES:
            raise RuntimeError(f"{a.routes_lab}: route tables hold {routes_loaded}, not {ROUTES} routes more each")
    # intra-VPC/Nw: a lab of its own with N workers.
    for want in wanted:
        m = re.fullmatch(r"intra-VPC/(\d+)w", want)
        if not m:
            continue
        wlab = f"{lab}w{m.group(1)}"
        run([vpclab, "up", "benches/labs/privatelink.yaml", "--name", wlab, "--detach",
             "--workers", m.group(1)], timeout=300)
        wside = lambda w, wlab=wlab: Side(vpclab, wlab, w)
        wserver = jdump(vpclab, wlab, "instances", "Server")["Reservations"][0]["Instances"][0]
        paths.append((want, wside("Client2"), wside("Server"), wserver["PrivateIpAddress"]))
        with open(f"/run/vpclab/{wlab}/state.json") as f:
            routers[want] = json.load(f).get("pid")
    paths = sorted((p for p in paths if p[0] in wanted), key=lambda p: wanted.index(p[0]))
    # Connection-rate servers (python3 -c: nothing is written to a file system the host shares).
    accepters = [side("Server").spawn(["python3", "-c", ACCEPT, "0.0.0.0", "5202"])]
    if "kernel" in wanted:
        accepters.append(Side(vpclab, lab, KB).spawn(["python3", "-c", ACCEPT, "0.0.0.0", "5202"]))
    for name, _, srv, _ in paths:
        if re.fullmatch(r"intra-VPC/\d+w", name):
            accepters.append(srv.spawn(["python3", "-c", ACCEPT, "0.0.0.0", "5202"]))
    if "slirp4netns" in wanted or "pasta" in wanted:
        accepters.append(Side(vpclab, lab, "host").spawn(["python3", "-c", ACCEPT, "127.0.0.1", "5302"]))

    facts = {
        "cores": os.cpu_count(),
        "kernel": os.uname().release,
        "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
        "date": time.strftime("%Y-%m-%d"),
        "workers": json.loads(run([vpclab, "status", "--json", "--name", lab])).get("workers"),
        "instance_mtu": side("Client2").run(["cat", "/sys/class/net/eth0/mtu"]).strip(),
        "instance_offloads": " ".join(
            l.strip() for l in side("Client2").run(["ethtool", "-k", "eth0"], check=False).splitlines()
            if l.split(":")[0].strip() in ("tcp-segmentation-offload", "generic-segmentation-offload",
                                           "generic-receive-offload", "tx-checksumming")),
    }

    rows = {}  # (metric, path) -> [values]
    flow_counts = []  # the routes lab's tracked flows right after each of its measurements
    flows_sent = [0.0]  # when the idle flows were last sent

    def add(metric, path, v):
        rows.setdefault((metric, path), []).append(v)

    def idle_flows(name, cli, addr):
        """Before a measurement: the idle flows, unless they outlive it (with 5 s to spare)."""
        if name == ROUTES_PATH and time.time() + a.seconds + 5 >= flows_sent[0] + FLOW_IDLE:
            cli.run(["python3", "-c", SEND_FLOWS, addr, str(FLOW_PORT), str(FLOWS)])
            flows_sent[0] = time.time()

    def count_flows(name):
        if name == ROUTES_PATH:
            s = json.loads(run([vpclab, "status", "--json", "--name", a.routes_lab]))
            flow_counts.append(s["tracked_flows"])

    t0 = time.time()
    for rnd in range(a.rounds):
        spent = []
        for name, cli, srv, addr in paths:
            t_path = time.time()
            peer = name in ("slirp4netns", "pasta")
            port, cport = PEER_PORTS if peer else (5201, 5202)
            few = name == ROUTES_PATH  # only the rows its comparison with intra-VPC needs
            pid = routers.get(name)
            idle_flows(name, cli, addr)
            before = cpu_ticks(pid)
            pings = name not in ("NLB", "PrivateLink", "slirp4netns", "pasta")
            loaded = cli.spawn(["ping", "-q", "-c", "100", "-i", "0.02", addr]) if pings else None
            r = iperf(cli, srv, addr, ["-t", t], port)
            gbit = r["end"]["sum_received"]["bits_per_second"] / 1e9
            add("1 TCP stream (Gbit/s)", name, gbit)
            after = cpu_ticks(pid)
            if before is not None and after is not None:
                gb = r["end"]["sum_received"]["bytes"] / 1e9
                add("router CPU s/GB (1 stream)", name, (after - before) / os.sysconf("SC_CLK_TCK") / gb)
            if loaded:
                out, _ = loaded.communicate(timeout=60)
                for line in out.splitlines():
                    if line.startswith("rtt"):
                        add("loaded ping avg (ms)", name, float(line.split("=")[1].split("/")[1]))
            count_flows(name)
            if not few:
                r = iperf(cli, srv, addr, ["-t", t, "-P", "4"], port)
                add("4 TCP streams (Gbit/s)", name, r["end"]["sum_received"]["bits_per_second"] / 1e9)
            idle_flows(name, cli, addr)
            r = iperf(cli, srv, addr, ["-t", t_udp, "-u", "-l", "64", "-b", "0"], port)
            s = r["end"]["sum"]
            add("64-byte UDP delivered (kpps)", name, (s["packets"] - s["lost_packets"]) / s["seconds"] / 1e3)
            add("64-byte UDP loss (%)", name, s["lost_percent"])
            count_flows(name)
            if pings:
                idle_flows(name, cli, addr)
                v = ping_avg(cli, addr)
                if v is not None:
                    add("idle ping avg (ms)", name, v)
                count_flows(name)
            if not few:
                add("new TCP connections/s", name,
                    float(cli.run(["python3", "-c", CONNECT, addr, str(cport), t_connect]).strip()))
            spent.append(f"{name} {time.time() - t_path:.0f}")
        print(f"  round {rnd + 1} done ({time.time() - t0:.0f} s; s per path: {', '.join(spent)})", file=sys.stderr)
    for p in accepters:
        p.kill()

    order = ["1 TCP stream (Gbit/s)", "4 TCP streams (Gbit/s)", "64-byte UDP delivered (kpps)",
             "64-byte UDP loss (%)", "idle ping avg (ms)", "loaded ping avg (ms)",
             "new TCP connections/s", "router CPU s/GB (1 stream)"]
    names = [p[0] for p in paths]
    result = {"machine": facts, "rounds": a.rounds, "seconds": a.seconds, "connect_seconds": int(t_connect),
              "baseline": baseline, "rows": []}
    for metric in order:
        base = rows.get((metric, baseline))
        for name in names:
            vals = rows.get((metric, name))
            if not vals:
                continue
            med = statistics.median(vals)
            ratio = med / statistics.median(base) if base and statistics.median(base) else None
            result["rows"].append({"metric": metric, "path": name, "median": med, "min": min(vals),
                                   "max": max(vals), "ratio": ratio, "values": vals,
                                   "better": "lower" if metric in LOWER_BETTER else "higher"})
    # The "no collapse" comparison: the routes lab against intra-VPC in the same run.
    if ROUTES_PATH in names and "intra-VPC" in names:
        ratios = {}
        for metric in order:
            mine, theirs = rows.get((metric, ROUTES_PATH)), rows.get((metric, "intra-VPC"))
            if mine and theirs and statistics.median(theirs):
                ratios[metric] = statistics.median(mine) / statistics.median(theirs)
        shown = ", ".join(f"{m.split(' (')[0]} {ratios[m]:.2f}×" + (" (lower is better)" if m in LOWER_BETTER else "")
                          for m in ROUTES_ROWS if m in ratios)
        result["no_collapse"] = {
            "path": ROUTES_PATH, "versus": "intra-VPC", "ratios": ratios,
            "routes_per_table": ROUTES, "routes_loaded": routes_loaded,
            "route_destinations": f"the first {ROUTES} /24s of 100.64.0.0/10, to the internet gateway",
            "idle_flows_sent": FLOWS, "tracked_flows_min": min(flow_counts) if flow_counts else None,
            "target": "≥ 0.95× of intra-VPC",
            "note": f"{ROUTES_PATH} ({ROUTES:,} more routes in each of 2 route tables, {FLOWS:,} idle tracked "
                    f"flows) vs intra-VPC in the same run: {shown}",
        }
    with open(os.path.join(a.out, "bench.json"), "w") as f:
        json.dump(result, f, indent=1)
    with open(os.path.join(a.out, "bench.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["metric", "path", "median", "min", "max", f"ratio_to_{baseline}"])
        for r in result["rows"]:
            w.writerow([r["metric"], r["path"], f"{r['median']:.4g}", f"{r['min']:.4g}", f"{r['max']:.4g}",
                        "" if r["ratio"] is None else f"{r['ratio']:.2f}"])
    png = os.path.join(a.out, "bench.png")
    plot(result, order, names, baseline, png)
    # The table: one line per metric, one column per path (median [min-max] ratio).
    machine = f"{facts['cores']} cores, {facts['cpu']}, Linux {facts['kernel']}"
    rounds = f"{a.rounds} interleaved round{'s' * (a.rounds != 1)} of {a.seconds} s (UDP {t_udp} s)"
    print(f"machine: {machine}; instance MTU {facts['instance_mtu']}; {facts['instance_offloads']}; "
          f"router workers {facts['workers']} (intra-VPC/Nw: N)")
    print(f"{rounds} (connections/s: {t_connect} s); "
          f"median [min-max] (ratio to {baseline})")
    width = max(len(m) for m in order) + len(", lower is better")
    print("| metric | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for metric in order:
        cells = []
        for name in names:
            r = next((x for x in result["rows"] if x["metric"] == metric and x["path"] == name), None)
            if r is None:
                cells.append("-")
                continue
            c = f"{num(r['median'])} [{num(r['min'])}–{num(r['max'])}]"
            if r["ratio"] is not None and name != baseline:
                c += f" ({r['ratio']:.2f}×)"
            cells.append(c)
        label = metric + (", lower is better" if metric in LOWER_BETTER else "")
        print(f"| {label:<{width}} | " + " | ".join(cells) + " |")
    nc = result.get("no_collapse")
    if nc:
        print()
        print(f"{nc['note']}; target {nc['target']}; tracked flows during its rows: at least "
              f"{nc['tracked_flows_min']}")
        if (nc["tracked_flows_min"] or 0) < FLOWS:
            print(f"WARNING: fewer than {FLOWS} tracked flows during {ROUTES_PATH}'s rows: not the load it names")
    print()
    print(f"plot: {png}; for the README (with the plot copied to {PLOT_LINK}):")
    print()
    print(f"Measured by `netns-scripts/bench.sh` on {machine}, {facts['date']} "
          f"({rounds}): [plot]({PLOT_LINK}), table in "
          f"[docs/performance.md](docs/performance.md).")


if __name__ == "__main__":
    main()
