//! The TCP/IP stack behind one service port: a smoltcp `Medium::Ip` interface over an
//! in-memory device, with the sockets of the applications that port serves.
//!
//! Contract: [`Stack::push`] queues one admitted IPv4 packet (already checked by the
//! caller: well formed, not a fragment, for an address and port this stack serves);
//! [`Stack::run`] feeds the queue to smoltcp, runs the applications (DNS over UDP and TCP,
//! IMDS, S3, DynamoDB and the interface services over HTTP) on whatever the sockets received, and hands every packet smoltcp
//! sends to `emit`. ICMP echo requests are answered by smoltcp itself.
//!
//! The device's MTU is the path's ([`Kind::mtu`]): 9001 for Amazon-provided services,
//! 1500 through an internet gateway, 8500 through a gateway endpoint. smoltcp announces
//! MSS = MTU − 40 and never sends larger segments or echo replies, which is the MSS clamp
//! AWS endpoints apply; a larger echo request gets no answer.
//!
//! S3 connections move bytes straight between the socket buffers and the connection's
//! [`StreamConn`]: request bodies are read out of the receive buffer into S3's files,
//! response bodies are read from files into the send buffer's free space. A connection
//! therefore holds its two fixed TCP buffers ([`S3_RX_BUFFER`], [`S3_TX_BUFFER`]) and a
//! few KiB of heads, whatever the object size.
//!
//! The interface owns one address (169.254.169.253/32) and a default route through it, with
//! `any_ip` on: smoltcp then accepts packets to *any* destination, and every socket is
//! bound to a port only, so replies leave from whichever service address was asked (UDP
//! replies carry the query's local address; TCP keeps its 4-tuple; echo replies swap
//! addresses). smoltcp's per-interface address limit therefore never matters.
//!
//! smoltcp has no accept queue: a listening socket becomes the connection. Each TCP
//! service keeps a [`Pool`] of sockets with a few idle listeners; before a SYN is fed to
//! smoltcp the pool makes sure one is listening, up to the pool's connection limit (past
//! it, smoltcp answers the SYN with RST). Connections idle for [`IDLE_TIMEOUT`] are aborted.

use std::collections::VecDeque;
use std::time::Duration;

use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpListenEndpoint};

use super::dns::{self, DnsCounters, Resolver, Transport};
use super::http::conn::StreamConn;
use super::http::{self, ConnState, HttpCounters};
use super::imds::Imds;
use super::interface::{self, InterfaceApp, ServiceRef};
use ipnet::Ipv4Net;

use super::authz::Policies;
use super::dynamodb::{self, DynamoDb};
use super::s3::{self, Via, S3};
use crate::dataplane::time::Instant;
use crate::model::{catalog, VpcId, VpceId};

/// The largest IP packet in either direction: the VPC's jumbo MTU, the data plane's
/// [`VPC_MTU`](crate::dataplane::topology::VPC_MTU).
pub const MTU: usize = crate::dataplane::topology::VPC_MTU as usize;

/// The MTU of a path through a VPC endpoint (AWS: 8500; endpoints clamp the MSS to it).
pub const ENDPOINT_MTU: usize = 8500;

/// The MTU of a path through an internet gateway: the data plane's
/// [`IGW_MTU`](crate::dataplane::topology::IGW_MTU), one number for both.
pub const INTERNET_MTU: usize = crate::dataplane::topology::IGW_MTU as usize;

/// Connections with no traffic for this long are aborted.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest IMDS request body taken (IMDS requests have none; this bounds memory).
pub const IMDS_MAX_BODY: usize = 16 * 1024;

/// How many egress rounds one `run` does at most (each sends ≤ 1 packet per socket).
const MAX_EGRESS_ROUNDS: usize = 256;

/// S3 sockets' receive buffer: the window a PUT can fill before S3 reads.
pub const S3_RX_BUFFER: usize = 256 * 1024;

/// S3 sockets' send buffer: the bytes of a GET in flight.
pub const S3_TX_BUFFER: usize = 256 * 1024;

fn smol(now: Instant) -> SmolInstant {
    SmolInstant::from_millis(i64::try_from(now.total_millis()).unwrap_or(i64::MAX))
}

fn ours(t: SmolInstant) -> Instant {
    Instant::from_millis(u64::try_from(t.total_millis()).unwrap_or(0))
}

/// An in-memory `Medium::Ip` device: raw IPv4 packets in, raw IPv4 packets out.
pub struct MemDevice {
    pub(crate) rx: VecDeque<Vec<u8>>,
    pub(crate) tx: Vec<Vec<u8>>,
    /// The MTU smoltcp is told (it sets the MSS it announces and the segments it sends).
    pub(crate) mtu: usize,
}

impl Default for MemDevice {
    fn default() -> Self {
        MemDevice {
            rx: VecDeque::new(),
            tx: Vec::new(),
            mtu: MTU,
        }
    }
}

pub struct RxTok(Vec<u8>);
pub struct TxTok<'a>(&'a mut Vec<Vec<u8>>);

impl RxToken for RxTok {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for MemDevice {
    type RxToken<'a> = RxTok;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _t: SmolInstant) -> Option<(RxTok, TxTok<'_>)> {
        let p = self.rx.pop_front()?;
        Some((RxTok(p), TxTok(&mut self.tx)))
    }

    fn transmit(&mut self, _t: SmolInstant) -> Option<TxTok<'_>> {
        Some(TxTok(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

/// The application behind a TCP pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    /// DNS over TCP (port 53).
    DnsTcp,
    /// Instance metadata over HTTP (port 80 of 169.254.169.254).
    Imds,
    /// S3 over HTTP (port 80 of the S3 addresses; DynamoDB's and the interface services'
    /// public addresses are told apart by the connection's local address).
    S3,
    /// An AWS service through an interface endpoint (port 80 of the endpoint's ENI IPs).
    Interface,
}

/// Bytes waiting to go into a socket; sent from an offset so a large response is not
/// shifted on every partial send.
#[derive(Default)]
struct OutBuf {
    buf: Vec<u8>,
    pos: usize,
}

impl OutBuf {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.buf.len());
        if self.is_empty() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
    }
}

struct Conn {
    handle: SocketHandle,
    /// The socket has left `Listen` at least once.
    used: bool,
    input: Vec<u8>,
    output: OutBuf,
    http: ConnState,
    close_when_sent: bool,
    hop_limited: bool,
    last_activity: Instant,
    /// S3's connection state (bodies stream through it).
    stream: StreamConn<s3::Incoming>,
}

/// The sockets of one TCP service.
pub struct Pool {
    port: u16,
    app: App,
    idle_listeners: usize,
    max_conns: usize,
    rx_size: usize,
    tx_size: usize,
    /// Input buffered per connection before reading pauses (backpressure).
    max_input: usize,
    conns: Vec<Conn>,
}

impl Pool {
    fn new(port: u16, app: App) -> Self {
        let (idle_listeners, max_conns, rx_size, tx_size, max_input) = match app {
            App::DnsTcp => (2, 32, 66 * 1024, 66 * 1024, 80 * 1024),
            App::Imds => (4, 64, 16 * 1024, 64 * 1024, IMDS_MAX_BODY + http::MAX_HEAD),
            // S3 reads and writes through `StreamConn`, not `input`.
            App::S3 => (4, 128, S3_RX_BUFFER, S3_TX_BUFFER, 0),
            App::Interface => (
                2,
                64,
                16 * 1024,
                16 * 1024,
                interface::MAX_BODY + http::MAX_HEAD,
            ),
        };
        Pool {
            port,
            app,
            idle_listeners,
            max_conns,
            rx_size,
            tx_size,
            max_input,
            conns: Vec::new(),
        }
    }

    fn listening(&self, sockets: &SocketSet<'_>) -> usize {
        self.conns
            .iter()
            .filter(|c| sockets.get::<tcp::Socket>(c.handle).state() == tcp::State::Listen)
            .count()
    }

    fn add_listener(&mut self, sockets: &mut SocketSet<'static>, now: Instant) -> bool {
        if self.conns.len() >= self.max_conns {
            return false;
        }
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.rx_size]),
            tcp::SocketBuffer::new(vec![0; self.tx_size]),
        );
        if s.listen(IpListenEndpoint::from(self.port)).is_err() {
            return false;
        }
        s.set_timeout(Some(smoltcp::time::Duration::from_secs(60)));
        if self.app == App::S3 {
            // Responses are written whole; do not hold a short tail for an ACK.
            s.set_nagle_enabled(false);
        }
        let handle = sockets.add(s);
        self.conns.push(Conn {
            handle,
            used: false,
            input: Vec::new(),
            output: OutBuf::default(),
            http: ConnState::default(),
            close_when_sent: false,
            hop_limited: false,
            last_activity: now,
            stream: StreamConn::new(),
        });
        true
    }

    /// Makes sure at least `n` sockets listen (within the connection limit).
    fn ensure_listening(&mut self, sockets: &mut SocketSet<'static>, n: usize, now: Instant) {
        let mut have = self.listening(sockets);
        while have < n && self.add_listener(sockets, now) {
            have += 1;
        }
    }

    /// Number of live connections (not listening).
    pub fn active(&self, sockets: &SocketSet<'_>) -> usize {
        self.conns.len() - self.listening(sockets)
    }
}

/// What the applications of a stack need from the rest of the services.
pub struct AppCtx<'a> {
    pub now: Instant,
    /// The VPC of an `AmazonProvided` port.
    pub vpc: Option<&'a VpcId>,
    pub resolver: &'a Resolver,
    pub imds: &'a mut Imds,
    pub dns: &'a mut DnsCounters,
    pub http: &'a mut HttpCounters,
    /// The endpoint and its VPC, on a `GatewayEndpoint` port.
    pub endpoint: Option<(&'a VpceId, &'a VpcId)>,
    /// S3, when the lab serves it.
    pub s3: Option<&'a mut S3>,
    /// DynamoDB (port 80 of its addresses).
    pub dynamodb: &'a mut DynamoDb,
    /// Every region's DynamoDB CIDRs: a port-80 connection to one of them is DynamoDB's.
    pub dynamodb_nets: &'a [Ipv4Net],
    /// Asked before S3 or DynamoDB serves a request (endpoint and bucket policies).
    pub policies: &'a Policies,
    /// Wall-clock milliseconds since the Unix epoch at `now` (for dates in replies).
    pub wall_millis: u64,
    /// The AWS services behind interface endpoints and at their public addresses.
    pub interface: &'a mut InterfaceApp,
    /// The endpoint and its service, on an `InterfaceEndpoint` port.
    pub interface_endpoint: Option<(&'a VpceId, ServiceRef)>,
}

/// One service port's stack.
pub struct Stack {
    iface: Interface,
    device: MemDevice,
    sockets: SocketSet<'static>,
    udp_dns: Option<SocketHandle>,
    pools: Vec<Pool>,
    scratch: Vec<u8>,
}

/// Which applications a stack runs, and on which path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// DNS (UDP and TCP 53) and IMDS (TCP 80).
    AmazonProvided,
    /// ICMP echo, and S3 on TCP 80 when `s3` is given to [`Stack::new`], reached through
    /// an internet gateway ([`INTERNET_MTU`]).
    Region,
    /// The same through a gateway endpoint ([`ENDPOINT_MTU`]).
    Endpoint,
    /// ICMP echo and an AWS service on TCP 80, through an interface endpoint
    /// ([`ENDPOINT_MTU`]).
    InterfaceEndpoint,
    /// DNS (UDP and TCP 53) for the emulated internet: public names only
    /// ([`INTERNET_MTU`]).
    PublicDns,
}

impl Kind {
    /// The MTU of the path: smoltcp announces MSS = MTU − 40 and sends no larger segment.
    pub fn mtu(self) -> usize {
        match self {
            Kind::AmazonProvided => MTU,
            Kind::Region | Kind::PublicDns => INTERNET_MTU,
            Kind::Endpoint | Kind::InterfaceEndpoint => ENDPOINT_MTU,
        }
    }
}

impl Stack {
    /// A stack running the applications of `kind`.
    pub fn new(kind: Kind, with_s3: bool, now: Instant, random_seed: u64) -> Self {
        let mut device = MemDevice {
            mtu: kind.mtu(),
            ..MemDevice::default()
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = random_seed;
        let mut iface = Interface::new(config, &mut device, smol(now));
        let addr = catalog::AMAZON_DNS_LINK_LOCAL;
        iface.update_ip_addrs(|a| {
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(addr), 32));
        });
        let _ = iface.routes_mut().add_default_ipv4_route(addr);
        iface.set_any_ip(true);
        let mut sockets = SocketSet::new(Vec::new());
        let mut udp_dns = None;
        let mut pools = Vec::new();
        if matches!(kind, Kind::AmazonProvided | Kind::PublicDns) {
            let mut s = udp::Socket::new(
                udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 256], vec![0; 256 * 1024]),
                udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 256], vec![0; 256 * 1024]),
            );
            let _ = s.bind(53);
            udp_dns = Some(sockets.add(s));
            pools.push(Pool::new(53, App::DnsTcp));
            if kind == Kind::AmazonProvided {
                pools.push(Pool::new(80, App::Imds));
            }
        } else if kind == Kind::InterfaceEndpoint {
            pools.push(Pool::new(80, App::Interface));
        } else if with_s3 {
            pools.push(Pool::new(80, App::S3));
        }
        for p in &mut pools {
            let n = p.idle_listeners;
            p.ensure_listening(&mut sockets, n, now);
        }
        Stack {
            iface,
            device,
            sockets,
            udp_dns,
            pools,
            scratch: vec![0; MTU],
        }
    }

    /// Queues one admitted packet.
    pub fn push(&mut self, packet: Vec<u8>) {
        self.device.rx.push_back(packet);
    }

    /// Whether packets wait to be fed to smoltcp.
    pub fn has_pending(&self) -> bool {
        !self.device.rx.is_empty()
    }

    /// Live TCP connections per application.
    pub fn connections(&self, app: App) -> usize {
        self.pools
            .iter()
            .filter(|p| p.app == app)
            .map(|p| p.active(&self.sockets))
            .sum()
    }

    /// Feeds queued packets, runs the applications, emits replies. Returns packets emitted.
    pub fn run(&mut self, ctx: &mut AppCtx<'_>, emit: &mut dyn FnMut(&[u8])) -> u64 {
        let t = smol(ctx.now);
        while let Some(front) = self.device.rx.front() {
            if let Some(port) = syn_port(front) {
                if let Some(p) = self.pools.iter_mut().find(|p| p.port == port) {
                    p.ensure_listening(&mut self.sockets, 1, ctx.now);
                }
            }
            self.iface
                .poll_ingress_single(t, &mut self.device, &mut self.sockets);
        }
        let mut emitted = 0;
        for _ in 0..MAX_EGRESS_ROUNDS {
            self.serve_udp(ctx);
            self.serve_tcp(ctx);
            let r = self
                .iface
                .poll_egress(t, &mut self.device, &mut self.sockets);
            for p in self.device.tx.drain(..) {
                emitted += 1;
                emit(&p);
            }
            if matches!(r, PollResult::None) && !self.has_unsent_output() {
                break;
            }
        }
        self.reap(ctx.now);
        emitted
    }

    fn has_unsent_output(&self) -> bool {
        self.pools.iter().any(|p| {
            p.conns.iter().any(|c| {
                (!c.output.is_empty() || c.stream.has_output())
                    && self.sockets.get::<tcp::Socket>(c.handle).can_send()
            })
        })
    }

    /// When smoltcp next needs to run (timers), or now if packets are queued.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        if self.has_pending() {
            return Some(now);
        }
        let mut at = self.iface.poll_at(smol(now), &self.sockets).map(ours);
        for p in &self.pools {
            for c in p.conns.iter().filter(|c| c.used) {
                let idle = c.last_activity + IDLE_TIMEOUT;
                at = Some(at.map_or(idle, |a| a.min(idle)));
            }
        }
        at
    }

    fn serve_udp(&mut self, ctx: &mut AppCtx<'_>) {
        // A VPC's Amazon DNS, or (no VPC) the emulated internet's public resolver.
        let (Some(h), vpc) = (self.udp_dns, ctx.vpc) else {
            return;
        };
        let s = self.sockets.get_mut::<udp::Socket>(h);
        while s.can_send() {
            let Ok((n, meta)) = s.recv_slice(&mut self.scratch) else {
                break;
            };
            let query = self.scratch.get(..n).unwrap_or(&[]);
            let o = ctx.resolver.answer(vpc, query, Transport::Udp);
            ctx.dns.count(&o);
            if let dns::Outcome::Reply { bytes, .. } = o {
                // `meta` names the client and the address it asked: the reply's source.
                if s.send_slice(&bytes, meta).is_err() {
                    ctx.dns.dropped += 1;
                }
            }
        }
    }

    fn serve_tcp(&mut self, ctx: &mut AppCtx<'_>) {
        for pool in &mut self.pools {
            for c in &mut pool.conns {
                let s = self.sockets.get_mut::<tcp::Socket>(c.handle);
                let state = s.state();
                if state == tcp::State::Listen {
                    if c.used {
                        // A connection reset before it was established: start afresh.
                        c.input.clear();
                        c.output.clear();
                        c.http = ConnState::default();
                        c.close_when_sent = false;
                        c.used = false;
                        c.stream = StreamConn::new();
                    }
                    continue;
                }
                if !c.used {
                    c.used = true;
                    c.last_activity = ctx.now;
                }
                if c.hop_limited && c.output.is_empty() && s.send_queue() == 0 {
                    // The hop-limited reply is acknowledged: back to the default TTL
                    // before anything else is written.
                    s.set_hop_limit(None);
                    c.hop_limited = false;
                }
                let dynamodb = pool.app == App::S3
                    && matches!(s.local_endpoint().map(|e| e.addr),
                        Some(IpAddress::Ipv4(a)) if ctx.dynamodb_nets.iter().any(|n| n.contains(&a)));
                let interface_svc = match pool.app {
                    App::Interface => ctx.interface_endpoint.map(|(_, svc)| svc),
                    App::S3 => match s.local_endpoint().map(|e| e.addr) {
                        Some(IpAddress::Ipv4(a)) => ctx.interface.public_service(a),
                        _ => None,
                    },
                    _ => None,
                };
                if pool.app == App::S3 && !dynamodb && interface_svc.is_none() {
                    serve_s3(c, s, ctx);
                    if c.stream.should_close() {
                        c.close_when_sent = true;
                    }
                    let peer_done = !s.may_recv() && s.state() == tcp::State::CloseWait;
                    if !c.stream.has_output() && (c.close_when_sent || peer_done) {
                        s.close();
                    }
                    if ctx.now.saturating_duration_since(c.last_activity) >= IDLE_TIMEOUT {
                        s.abort();
                    }
                    continue;
                }
                let max_input = if dynamodb {
                    dynamodb::MAX_BODY + http::MAX_HEAD
                } else if interface_svc.is_some() {
                    interface::MAX_BODY + http::MAX_HEAD
                } else {
                    pool.max_input
                };
                while s.can_recv() && c.input.len() < max_input {
                    let room = max_input - c.input.len();
                    let got = s.recv(|b| {
                        let n = b.len().min(room);
                        (n, b.get(..n).map(|x| x.to_vec()).unwrap_or_default())
                    });
                    match got {
                        Ok(bytes) if !bytes.is_empty() => {
                            c.input.extend_from_slice(&bytes);
                            c.last_activity = ctx.now;
                        }
                        _ => break,
                    }
                }
                if !c.input.is_empty() && !c.close_when_sent {
                    let remote = s.remote_endpoint().map(|e| e.addr);
                    match (pool.app, ctx.vpc, remote) {
                        (App::DnsTcp, vpc, _) => {
                            for o in dns::serve_stream(
                                ctx.resolver,
                                vpc,
                                &mut c.input,
                                &mut c.output.buf,
                            ) {
                                ctx.dns.count(&o);
                            }
                            if c.input.len() >= max_input {
                                c.close_when_sent = true; // cannot happen: frames ≤ 64 KiB
                            }
                        }
                        (App::Imds, Some(vpc), Some(IpAddress::Ipv4(src))) => {
                            let (now, imds) = (ctx.now, &mut *ctx.imds);
                            let served = http::serve_stream(
                                &mut c.input,
                                &mut c.output.buf,
                                IMDS_MAX_BODY,
                                &mut c.http,
                                |req| imds.handle(now, vpc, src, req),
                            );
                            ctx.http.count(&served);
                            if served.close {
                                c.close_when_sent = true;
                            }
                            if let Some(h) = served.hop_limit {
                                s.set_hop_limit(Some(h));
                                c.hop_limited = true;
                            }
                        }
                        (App::S3 | App::Interface, _, Some(IpAddress::Ipv4(src)))
                            if interface_svc.is_some() =>
                        {
                            let via = match ctx.interface_endpoint {
                                Some((vpce, _)) => interface::Via::Endpoint { vpce, src },
                                None => interface::Via::Internet { src },
                            };
                            let (app, svc) = (&mut *ctx.interface, interface_svc);
                            let served = http::serve_stream(
                                &mut c.input,
                                &mut c.output.buf,
                                interface::MAX_BODY,
                                &mut c.http,
                                |req| match svc {
                                    Some(svc) => app.handle(svc, via, req),
                                    None => http::Response::new(500),
                                },
                            );
                            ctx.http.count(&served);
                            if served.close {
                                c.close_when_sent = true;
                            }
                        }
                        (App::S3, _, Some(IpAddress::Ipv4(src))) if dynamodb => {
                            let via = match ctx.endpoint {
                                Some((vpce, vpc)) => Via::Endpoint {
                                    vpce: vpce.clone(),
                                    vpc: vpc.clone(),
                                    src,
                                },
                                None => Via::Internet { src },
                            };
                            let (wall, policies, ddb) =
                                (ctx.wall_millis, ctx.policies, &mut *ctx.dynamodb);
                            let served = http::serve_stream(
                                &mut c.input,
                                &mut c.output.buf,
                                dynamodb::MAX_BODY,
                                &mut c.http,
                                |req| ddb.handle_with(&via, req, wall, policies),
                            );
                            ctx.http.count(&served);
                            if served.close {
                                c.close_when_sent = true;
                            }
                        }
                        _ => {
                            c.input.clear();
                            c.close_when_sent = true;
                        }
                    }
                }
                if !c.output.is_empty() && s.can_send() {
                    if let Ok(n) = s.send_slice(c.output.pending()) {
                        c.output.consume(n);
                        c.last_activity = ctx.now;
                    }
                }
                let peer_done = !s.may_recv() && state == tcp::State::CloseWait;
                if c.output.is_empty() && (c.close_when_sent || peer_done) {
                    s.close();
                }
                if ctx.now.saturating_duration_since(c.last_activity) >= IDLE_TIMEOUT {
                    s.abort();
                }
            }
        }
    }

    /// Frees the sockets of finished connections and tops up idle listeners.
    fn reap(&mut self, now: Instant) {
        for pool in &mut self.pools {
            let sockets = &mut self.sockets;
            pool.conns.retain(|c| {
                let st = sockets.get::<tcp::Socket>(c.handle).state();
                let done = c.used && matches!(st, tcp::State::Closed | tcp::State::TimeWait);
                if done {
                    sockets.remove(c.handle);
                }
                !done
            });
            let n = pool.idle_listeners;
            pool.ensure_listening(&mut self.sockets, n, now);
        }
    }
}

/// Moves bytes between an S3 connection's socket and its [`StreamConn`] until neither
/// side can progress: response bytes into the send buffer as it has room (file bodies are
/// read straight into it), request bytes out of the receive buffer while S3 wants them.
fn serve_s3(c: &mut Conn, s: &mut tcp::Socket<'static>, ctx: &mut AppCtx<'_>) {
    let via = match (s.remote_endpoint().map(|e| e.addr), ctx.endpoint) {
        (Some(IpAddress::Ipv4(src)), Some((vpce, vpc))) => Via::Endpoint {
            vpce: vpce.clone(),
            vpc: vpc.clone(),
            src,
        },
        (Some(IpAddress::Ipv4(src)), None) => Via::Internet { src },
        _ => return,
    };
    let Some(s3) = ctx.s3.as_deref_mut() else {
        c.close_when_sent = true;
        return;
    };
    let mut h = s3.handler(&via, ctx.wall_millis, ctx.policies);
    let (requests, bad) = (c.stream.requests, c.stream.bad_requests);
    let mut any = false;
    loop {
        let mut progressed = false;
        while c.stream.has_output() && s.can_send() {
            let stream = &mut c.stream;
            let n = s
                .send(|buf| {
                    let n = stream.fill(buf);
                    (n, n)
                })
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            progressed = true;
        }
        if c.stream.wants_input() && s.can_recv() {
            let stream = &mut c.stream;
            let n = s
                .recv(|buf| {
                    let n = stream.feed(buf, &mut h);
                    (n, n)
                })
                .unwrap_or(0);
            progressed |= n > 0;
        }
        if !progressed {
            break;
        }
        any = true;
    }
    if any {
        c.last_activity = ctx.now;
    }
    ctx.http.requests += c.stream.requests - requests;
    ctx.http.bad_requests += c.stream.bad_requests - bad;
    ctx.http.peak_conn_buffered = ctx.http.peak_conn_buffered.max(c.stream.buffered());
}

/// The destination port of a TCP SYN (without ACK), for the listener pool.
fn syn_port(packet: &[u8]) -> Option<u16> {
    let ip = smoltcp::wire::Ipv4Packet::new_checked(packet).ok()?;
    if ip.next_header() != smoltcp::wire::IpProtocol::Tcp {
        return None;
    }
    let tcp = smoltcp::wire::TcpPacket::new_checked(ip.payload()).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
}
