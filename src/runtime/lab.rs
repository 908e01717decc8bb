//! A running lab: bring-up, the router daemon, the control socket, teardown.
//!
//! Contract:
//! - [`run`] is the daemon. It claims the lab (the state file under `/run/vpclab/<lab>/` is
//!   written before anything is created), creates the emulated internet and one instance per
//!   EC2 instance of the lab (namespaces, private files, a TAP as `eth0`), starts each
//!   instance's sshd and runs its user data, starts the event loop, checks that every
//!   instance reaches its subnet router, and only then opens the control socket — so a
//!   client that gets an answer knows the lab is ready. It returns after a stop (a signal or
//!   a `Down` request) once everything it created is removed.
//! - Any failure during bring-up removes what was made (`host::cleanup::down`) and is
//!   returned; nothing half-built is left.
//! - The control socket (`control.sock`, mode 0600) serves [`Request`]s: status and
//!   counters, `describe` of the running lab, live changes (applied to the lab model, then a
//!   new router snapshot is swapped in), captures (`runtime::capture`: streamed on the
//!   client's own thread until the client goes; at most 8 at once), and down.
//! - The lab's flow logs (template or live) are delivered by the control thread, never by
//!   the event loop's workers: about once a second it reads the router's flow history and
//!   appends each closed capture window's records, filtered to the flow log's resource and
//!   traffic type and written in its format, to `/run/vpclab/<lab>/flow-logs/<fl-id>.log`.
//!   The window is the flow log's `MaxAggregationInterval`, or `VPCLAB_FLOW_LOG_INTERVAL_S`
//!   seconds when that is set in `up`'s environment. What it keeps is one window start per
//!   flow log.
//!
//! Size: the daemon's bring-up, its control socket, live changes and flow-log delivery all
//! work on the one `Daemon` state (about 1,190 lines, and its tests); the event loop is in
//! [`super::eventloop`], the services' glue in [`super::services`].

use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use thiserror::Error;

use super::capture::{self, CaptureStream};
use super::eventloop::{Command, EventLoop, FrameIo};
use super::services::LabServices;
use crate::control::capture::{port_name, resolve_target, CapturePort};
use crate::control::client::control_socket;
use crate::control::describe::{describe, resolve};
use crate::control::flowlogs::{aggregate, FlowSample, Format};
use crate::control::protocol::{PortStatus, Recipe, Request, Response, Status};
use crate::dataplane::flowlog::FlowDirection;
use crate::dataplane::router::{Config, Router};
use crate::dataplane::topology::{PortId, PortKind, Snapshot, INTERNET_GATEWAY_IP};
use crate::dataplane::verdict::{DropKind, FlowAction};
use crate::host::instance::{Instance, InstanceSpec};
use crate::host::link::{EthConfig, LinkDrops};
use crate::host::state::{LabState, Resource};
use crate::host::tap::Tap;
use crate::host::{cleanup, keys, names, signals};
use crate::model::{catalog, cidr, Lab};

/// The name of the emulated internet's namespace (`vl-<lab>-internet`).
pub const INTERNET: &str = "internet";
/// Instances made at once at bring-up.
pub const CREATE_THREADS: usize = 4;
/// How long user data may run at bring-up.
pub const USER_DATA_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a lab could not be run: each variant is the step that failed, wrapping the host's own
/// error.
#[derive(Debug, Error)]
pub enum RuntimeError {
    /// The lab name is not a valid one.
    #[error("{0}")]
    LabName(#[source] crate::host::names::NameError),
    /// The lab's state file could not be written.
    #[error("{0}")]
    State(#[source] crate::host::state::StateError),
    /// The stop signals could not be handled.
    #[error("{0}")]
    Signals(#[source] crate::host::signals::SignalError),
    /// Taking the lab down after it ran failed.
    #[error("down: {0}")]
    Down(#[source] crate::host::cleanup::CleanupError),
    /// The emulated internet's namespace could not be made or given a key.
    #[error("internet: {0}")]
    Internet(#[source] Box<crate::host::instance::InstanceError>),
    /// An instance could not be made, opened or given its key.
    #[error("instance {instance}: {source}")]
    Instance {
        /// The instance.
        instance: String,
        /// What failed (boxed: an instance error is large).
        source: Box<crate::host::instance::InstanceError>,
    },
    /// An instance's key pair could not be made.
    #[error("instance {instance}: key pair: {source}")]
    KeyPair {
        /// The instance.
        instance: String,
        /// What failed.
        source: crate::host::keys::KeysError,
    },
    /// The emulated internet could not be given a key pair's private key.
    #[error("internet: key pair: {0}")]
    InternetKey(#[source] Box<crate::host::instance::InstanceError>),
    /// A key pair's private key could not be read back.
    #[error("key pair {key}: read .pem: {source}")]
    ReadPem {
        /// The key pair.
        key: String,
        /// What failed.
        source: std::io::Error,
    },
    /// A TAP could not be created or set up.
    #[error("{instance}: {source}")]
    Tap {
        /// The instance (or `internet`).
        instance: String,
        /// What failed.
        source: crate::host::tap::TapError,
    },
    /// A TAP could not be moved into its namespace and configured.
    #[error("{instance}: {source}")]
    Link {
        /// The instance (or `internet`).
        instance: String,
        /// What failed.
        source: crate::host::link::LinkError,
    },
    /// The router's wake-up pipe or thread could not be made.
    #[error("{0}")]
    Router(#[source] std::io::Error),
    /// The control socket could not be made.
    #[error("{path}: {source}")]
    ControlSocket {
        /// Where.
        path: std::path::PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// The event loop ended with an error.
    #[error("event loop: {0}")]
    EventLoop(#[source] std::io::Error),
    /// The event loop panicked.
    #[error("event loop panicked")]
    EventLoopPanicked,
    /// No randomness for the services' secrets.
    #[error("/dev/urandom: {0}")]
    Random(#[source] std::io::Error),
    /// The AWS services could not start.
    #[error("services: {0}")]
    Services(#[source] crate::services::Error),
    /// The lab is already up.
    #[error("lab '{0}' is already up (its state file exists): run `vpclab down --name {0}` first, or pick another --name")]
    AlreadyUp(String),
    /// The lab's topology does not compile (a bug: the lab was verified).
    #[error("{0}")]
    Topology(String),
    /// A program the lab needs is not installed on the host (the instances run the host's
    /// programs).
    #[error("`{tool}` is not installed on this machine, and every instance runs the host's programs: apt-get install {package} (or run netns-scripts/install-deps.sh)")]
    MissingTool {
        /// The program.
        tool: &'static str,
        /// The Debian package that has it.
        package: &'static str,
    },
    /// An instance cannot reach its subnet router after bring-up.
    #[error("instance {0} cannot reach its subnet router {1}")]
    Unreachable(String, Ipv4Addr),
}

/// An instance as the daemon knows it.
#[derive(Debug, Clone)]
pub struct Member {
    /// The instance name (the template's logical id).
    pub name: String,
    /// Its private IP.
    pub ip: Ipv4Addr,
    /// Its subnet router.
    pub gateway: Ipv4Addr,
}

impl FrameIo for Tap {
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.as_fd()
    }
    fn read_frame(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.read(buf)
    }
    fn write_frame(&self, parts: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.write_parts(parts)
    }
}

/// The most router workers a lab may ask for.
pub const MAX_WORKERS: usize = 16;

/// How the router runs.
#[derive(Debug, Clone, Copy)]
pub struct RouterOptions {
    /// Worker threads, each with its own queue of every (multi-queue) TAP; 1 makes
    /// single-queue TAPs and one thread. See `EventLoop::with_workers`.
    pub workers: usize,
}

/// Workers when `up` is not told: one per core, at most 4 (measured in docs/performance.md:
/// on 2 cores, 4 TCP streams gain 65-70% with 2 workers and 1 stream is unchanged).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions { workers: 1 }
    }
}

/// The instance name of an EC2 instance: its logical id, else its id.
pub fn instance_name(i: &crate::model::Instance) -> String {
    i.name()
}

/// Runs lab `name` from `lab` until stopped; see the module docs. `progress` gets one line
/// per step.
pub fn run(
    lab: Lab,
    name: &str,
    recipe: Recipe,
    options: &RouterOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<(), RuntimeError> {
    names::check_lab(name).map_err(RuntimeError::LabName)?;
    // Bring-up pings each subnet router from its instances: without ping every lab would
    // fail as unreachable.
    if !crate::host::on_path("ping") {
        return Err(RuntimeError::MissingTool {
            tool: "ping",
            package: "iputils-ping",
        });
    }
    if LabState::load(name).ok().flatten().is_some() {
        return Err(RuntimeError::AlreadyUp(name.to_string()));
    }
    let mut state = LabState::create(name).map_err(|e| match e {
        crate::host::state::StateError::Exists { .. } => RuntimeError::AlreadyUp(name.to_string()),
        e => RuntimeError::State(e),
    })?;
    signals::install().map_err(RuntimeError::Signals)?;
    let result = bring_up_and_serve(lab, name, recipe, options, &mut state, progress);
    progress("tearing the lab down");
    let report = cleanup::down(name);
    match (result, report) {
        (Err(e), _) => Err(e),
        (Ok(()), Ok(_)) => Ok(()),
        (Ok(()), Err(e)) => Err(RuntimeError::Down(e)),
    }
}

fn bring_up_and_serve(
    lab: Lab,
    name: &str,
    recipe: Recipe,
    options: &RouterOptions,
    state: &mut LabState,
    progress: &mut dyn FnMut(&str),
) -> Result<(), RuntimeError> {
    let started = StdInstant::now();
    let snap = Snapshot::build(&lab, None).map_err(|e| RuntimeError::Topology(e.to_string()))?;
    let region = lab.region();
    let workers = options.workers.clamp(1, MAX_WORKERS);
    let mut taps: Vec<Option<Box<dyn FrameIo>>> = (0..snap.ports.len()).map(|_| None).collect();
    // The further workers' queues of each TAP, by worker then port.
    let mut extra: Vec<Vec<Option<Box<dyn FrameIo>>>> = (1..workers)
        .map(|_| (0..snap.ports.len()).map(|_| None).collect())
        .collect();
    let mut place = |port: crate::dataplane::topology::PortId, queues: Vec<Tap>| {
        for (q, tap) in queues.into_iter().enumerate() {
            let slot = if q == 0 {
                taps.get_mut(port.ix())
            } else {
                extra.get_mut(q - 1).and_then(|w| w.get_mut(port.ix()))
            };
            if let Some(slot) = slot {
                *slot = Some(Box::new(tap));
            }
        }
    };
    let mut members = Vec::new();
    // The kernel's drop counters of each port's TAP, for `status`.
    let mut kernel_drops: Vec<Option<LinkDrops>> = (0..snap.ports.len()).map(|_| None).collect();
    // Key pairs already copied to the emulated internet (`Instance::install_private_key`).
    let mut keys_given = std::collections::BTreeSet::new();

    // The emulated internet.
    progress("creating the emulated internet (203.0.113.10)");
    let internet_spec = InstanceSpec {
        hostname: "internet".into(),
        domain: "example.net".into(),
        dns: INTERNET_GATEWAY_IP,
        private_ip: catalog::INTERNET_HOST,
    };
    let internet = Instance::create(state, INTERNET, &internet_spec)
        .map_err(|e| RuntimeError::Internet(Box::new(e)))?;
    let mut cfg = EthConfig::new(snap.internet_host_mac, catalog::INTERNET_HOST, 24)
        .with_gateway(INTERNET_GATEWAY_IP);
    cfg.mtu = 1500;
    let (queues, drops) = attach_tap(state, name, INTERNET, internet.netns(), &cfg, workers)?;
    if let Some(slot) = kernel_drops.get_mut(snap.internet_port.ix()) {
        *slot = Some(drops);
    }
    place(snap.internet_port, queues);

    // One namespace per instance, made a few at a time (host keys and namespaces are slow).
    let mut specs = Vec::new();
    for inst in &lab.instances {
        let iname = instance_name(inst);
        let vpc = lab
            .vpc(&inst.vpc)
            .ok_or_else(|| RuntimeError::Topology(format!("{iname}: no VPC")))?;
        specs.push((
            iname,
            InstanceSpec {
                hostname: inst.hostname.clone(),
                domain: region.private_dns_suffix.to_string(),
                dns: cidr::dns_address(vpc.cidr),
                private_ip: inst.private_ip,
            },
        ));
    }
    progress(&format!("creating {} instances", specs.len()));
    let batch: Vec<(&str, &InstanceSpec)> = specs.iter().map(|(n, s)| (n.as_str(), s)).collect();
    let made = Instance::create_many(state, &batch, CREATE_THREADS);
    let mut instances = Vec::new();
    for ((iname, _), r) in specs.iter().zip(made) {
        instances.push(r.map_err(|source| RuntimeError::Instance {
            instance: iname.clone(),
            source: Box::new(source),
        })?);
    }
    let mut user_data = Vec::new();
    for (inst, instance) in lab.instances.iter().zip(instances) {
        let iname = instance.name().to_string();
        let eni = lab
            .eni(&inst.eni)
            .ok_or_else(|| RuntimeError::Topology(format!("{iname}: no ENI")))?;
        let subnet = lab
            .subnet(&inst.subnet)
            .ok_or_else(|| RuntimeError::Topology(format!("{iname}: no subnet")))?;
        progress(&format!(
            "instance {iname}: {} ({})",
            inst.private_ip, inst.hostname
        ));
        let gateway = cidr::router_address(subnet.cidr);
        let cfg = EthConfig::new(eni.mac.0, inst.private_ip, subnet.cidr.prefix_len())
            .with_gateway(gateway);
        let (queues, drops) = attach_tap(state, name, &iname, instance.netns(), &cfg, workers)?;
        let port = snap
            .port_of(&PortKind::Eni(eni.id.clone()))
            .ok_or_else(|| RuntimeError::Topology(format!("{iname}: no port")))?;
        place(port, queues);
        if let Some(slot) = kernel_drops.get_mut(port.ix()) {
            *slot = Some(drops);
        }
        if let Some(key_name) = &inst.key_name {
            let pair = keys::ensure(state, key_name).map_err(|source| RuntimeError::KeyPair {
                instance: iname.clone(),
                source,
            })?;
            instance
                .authorize_key(&pair.public_key)
                .map_err(|source| RuntimeError::Instance {
                    instance: iname.clone(),
                    source: Box::new(source),
                })?;
            if keys_given.insert(key_name.clone()) {
                let pem =
                    std::fs::read(&pair.private_key).map_err(|source| RuntimeError::ReadPem {
                        key: key_name.clone(),
                        source,
                    })?;
                internet
                    .install_private_key(key_name, &pem)
                    .map_err(|e| RuntimeError::InternetKey(Box::new(e)))?;
            }
        }
        members.push(Member {
            name: iname.clone(),
            ip: inst.private_ip,
            gateway,
        });
        user_data.push((instance, inst.user_data.clone()));
    }

    // The router.
    let snap = Arc::new(snap);
    let router = Router::new(Arc::clone(&snap), Config::default());
    let services = services_for(&lab, name)?;
    let (tx, rx) = mpsc::channel();
    let (wake_r, wake_w) = nix::unistd::pipe().map_err(|e| RuntimeError::Router(e.into()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_loop = Arc::clone(&stop);
    // Milliseconds, not seconds: a record's second must be the wall clock's, or a packet
    // could land in the window before the one it was sent in.
    let loop_epoch_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let event_loop = EventLoop::new(
        router,
        taps,
        services,
        rx,
        wake_r,
        Box::new(move || stop_loop.load(Ordering::SeqCst) || signals::stop_requested()),
    )
    .with_workers(extra)
    // `VPCLAB_BUSY_POLL_US` in `up`'s environment (the daemon inherits it): see
    // `EventLoop::with_busy_poll` and docs/performance.md.
    .with_busy_poll(Duration::from_micros(
        std::env::var("VPCLAB_BUSY_POLL_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    ));
    let loop_thread = std::thread::Builder::new()
        .name("vpclab-router".into())
        .spawn(move || event_loop.run())
        .map_err(RuntimeError::Router)?;
    let send = LoopSender {
        tx: tx.clone(),
        wake: Arc::new(Mutex::new(wake_w)),
    };

    // Boot: sshd, then user data (which may restart it), as on EC2.
    let mut failures = Vec::new();
    for (instance, script) in &user_data {
        if let Err(e) = instance.start_sshd() {
            progress(&format!(
                "instance {}: sshd did not start: {e}",
                instance.name()
            ));
        }
        if let Some(script) = script {
            progress(&format!("instance {}: running user data", instance.name()));
            match instance.run_user_data(script.as_bytes(), USER_DATA_TIMEOUT) {
                Ok(r) if r.ok() => {}
                Ok(r) => {
                    progress(&format!(
                        "instance {}: user data {:?}; see {}",
                        instance.name(),
                        r.outcome,
                        r.log.display()
                    ));
                    failures.push((instance.name().to_string(), r.log.display().to_string()));
                }
                Err(e) => failures.push((instance.name().to_string(), e.to_string())),
            }
        }
    }

    // Every instance reaches its router before anyone is told the lab is up.
    for m in &members {
        let inst = Instance::open(name, &m.name).map_err(|source| RuntimeError::Instance {
            instance: m.name.clone(),
            source: Box::new(source),
        })?;
        let ok = inst
            .output("ping", ["-c", "1", "-W", "2", &m.gateway.to_string()])
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            send.send(Command::Stop);
            let _ = loop_thread.join();
            return Err(RuntimeError::Unreachable(m.name.clone(), m.gateway));
        }
    }
    progress(&format!(
        "lab {name} is up: {} instances in {:.1} s",
        members.len(),
        started.elapsed().as_secs_f64()
    ));

    // The control socket, served until stop.
    let sock = control_socket(name);
    let _ = std::fs::remove_file(&sock);
    let socket_error = |source| RuntimeError::ControlSocket {
        path: sock.clone(),
        source,
    };
    let listener = UnixListener::bind(&sock).map_err(socket_error)?;
    let _ = std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600));
    listener.set_nonblocking(true).map_err(socket_error)?;
    let lab = Arc::new(lab);
    let mut daemon = Daemon {
        workers,
        kernel_drops,
        lab,
        loop_epoch_ms,
        recipe,
        name: name.to_string(),
        send,
        captures: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        next_capture: 1,
        started,
        failures,
        stop: Arc::clone(&stop),
        delivery: FlowLogDelivery::new(name),
    };
    daemon.register_flow_logs();
    // Flow logs are delivered here, a file each (created as flow logs appear).
    let flow_dir = names::flow_logs_dir(name);
    if std::fs::create_dir_all(&flow_dir).is_ok() {
        let _ = std::fs::set_permissions(&flow_dir, std::fs::Permissions::from_mode(0o755));
    }
    // Each client is read on a thread of its own, with a size limit and a deadline for the
    // whole request; this thread handles whole requests one at a time, so a slow or idle
    // client delays nobody.
    let (req_tx, req_rx) = mpsc::channel::<(Request, mpsc::Sender<Reply>)>();
    let clients = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) && !signals::stop_requested() && !loop_thread.is_finished() {
        while let Ok((conn, _)) = listener.accept() {
            client(conn, req_tx.clone(), Arc::clone(&clients));
        }
        if let Ok((req, reply)) = req_rx.recv_timeout(Duration::from_millis(20)) {
            let _ = reply.send(daemon.handle(req));
        }
        daemon.deliver_flow_logs();
    }
    daemon.send.send(Command::Stop);
    let _ = std::fs::remove_file(&sock);
    match loop_thread.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RuntimeError::EventLoop(e)),
        Err(_) => Err(RuntimeError::EventLoopPanicked),
    }
}

/// Creates a TAP with `queues` queues, records it, and makes it `eth0` of `netns`; also opens
/// its kernel drop counters.
fn attach_tap(
    state: &mut LabState,
    lab: &str,
    instance: &str,
    netns: &str,
    cfg: &EthConfig,
    queues: usize,
) -> Result<(Vec<Tap>, LinkDrops), RuntimeError> {
    let ifname = names::tap(lab, instance);
    state
        .record_resource(Resource::Tap {
            ifname: ifname.clone(),
        })
        .map_err(RuntimeError::State)?;
    let tap_error = |source| RuntimeError::Tap {
        instance: instance.to_string(),
        source,
    };
    let link_error = |source| RuntimeError::Link {
        instance: instance.to_string(),
        source,
    };
    let taps = Tap::create_queues(&ifname, queues).map_err(tap_error)?;
    let first = taps
        .first()
        .map(|t| t.ifname().to_string())
        .unwrap_or(ifname);
    crate::host::link::attach(&first, netns, cfg).map_err(link_error)?;
    for tap in &taps {
        tap.set_nonblocking(true).map_err(tap_error)?;
    }
    let drops = crate::host::link::open_drop_counters(netns, "eth0").map_err(link_error)?;
    Ok((taps, drops))
}

/// The lab's AWS services: S3 keeps its buckets in the lab's data directory, IMDSv2
/// tokens are signed with a fresh secret, S3's dates are wall-clock.
fn services_for(lab: &Lab, name: &str) -> Result<LabServices, RuntimeError> {
    let mut secret = [0u8; 32];
    let mut seed = [0u8; 8];
    {
        use std::io::Read;
        let mut f = std::fs::File::open("/dev/urandom").map_err(RuntimeError::Random)?;
        f.read_exact(&mut secret)
            .and_then(|()| f.read_exact(&mut seed))
            .map_err(RuntimeError::Random)?;
    }
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let config = crate::services::Config {
        token_secret: secret,
        random_seed: u64::from_le_bytes(seed),
        s3_dir: Some(names::data_dir(name).join("s3")),
        epoch_unix_millis: epoch,
        ..crate::services::Config::default()
    };
    let services = crate::services::Services::new(lab, config).map_err(RuntimeError::Services)?;
    Ok(LabServices::new(services))
}

/// The account of every lab resource (as the model's ARNs and owner ids say).
const ACCOUNT: &str = crate::model::catalog::ACCOUNT_ID;

struct Daemon {
    /// Router worker threads.
    workers: usize,
    /// The kernel's drop counters of the ports' TAPs (by port index).
    kernel_drops: Vec<Option<LinkDrops>>,
    /// The lab as it runs, shared with the event loop (a change replaces it whole).
    lab: Arc<Lab>,
    /// Wall-clock milliseconds at the event loop's time zero (flow log timestamps).
    loop_epoch_ms: u64,
    recipe: Recipe,
    name: String,
    send: LoopSender,
    /// Captures being streamed (at most [`MAX_CAPTURES`]).
    captures: Arc<std::sync::atomic::AtomicUsize>,
    /// The next capture's id.
    next_capture: u64,
    started: StdInstant,
    failures: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
    delivery: FlowLogDelivery,
}

/// The environment variable that shortens every flow log's capture window (seconds).
pub const FLOW_LOG_INTERVAL_ENV: &str = "VPCLAB_FLOW_LOG_INTERVAL_S";

/// Where and how far the lab's flow logs have been delivered.
struct FlowLogDelivery {
    /// `/run/vpclab/<lab>/flow-logs`.
    dir: std::path::PathBuf,
    /// [`FLOW_LOG_INTERVAL_ENV`], when set.
    interval_override: Option<u64>,
    /// Per flow log: the first window not yet written.
    next: std::collections::HashMap<String, u64>,
    /// The last delivery.
    last: StdInstant,
}

impl FlowLogDelivery {
    fn new(lab: &str) -> Self {
        FlowLogDelivery {
            dir: names::flow_logs_dir(lab),
            interval_override: std::env::var(FLOW_LOG_INTERVAL_ENV)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0),
            next: std::collections::HashMap::new(),
            last: StdInstant::now(),
        }
    }
}

/// The longest request line the control socket reads (the largest thing a request carries
/// is a policy document, at most 20,480 characters).
pub const MAX_REQUEST: usize = 1 << 20;
/// How long a client has to send its whole request line.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Clients read at once; more are answered with an error at once.
const MAX_CLIENTS: usize = 32;

/// Captures streamed at once; more are refused with an error (each holds a client thread).
const MAX_CAPTURES: usize = 8;

/// The event loop's command channel and wake-up pipe: what any thread uses to ask the loop
/// something.
#[derive(Clone)]
struct LoopSender {
    tx: mpsc::Sender<Command>,
    wake: Arc<Mutex<std::os::fd::OwnedFd>>,
}

impl LoopSender {
    fn send(&self, c: Command) {
        let _ = self.tx.send(c);
        if let Ok(w) = self.wake.lock() {
            let _ = nix::unistd::write(&*w, &[1]);
        }
    }
}

/// The daemon's answer to a client's request.
enum Reply {
    /// One response line.
    Answer(Box<Response>),
    /// A capture in place: the client's thread streams it.
    Capture(Streaming),
}

/// A capture handed to the client's thread.
struct Streaming {
    stream: CaptureStream,
    /// The captured ports and their names, in the order announced.
    ports: Vec<(PortId, String)>,
    /// Every port's name, by port index (for the comments).
    names: Vec<String>,
    /// To end the capture in the loop when the client is gone.
    send: LoopSender,
    /// The daemon's count of captures (this one is in it).
    captures: Arc<std::sync::atomic::AtomicUsize>,
}

impl Streaming {
    /// Announces the capture on `conn` and streams it until the client or the loop is gone.
    fn run(self, conn: &UnixStream) {
        let ports = self
            .ports
            .iter()
            .map(|(p, name)| CapturePort {
                port: p.0,
                name: name.clone(),
            })
            .collect();
        let started = Response::CaptureStarted { ports };
        let mut ok = false;
        if let Ok(mut text) = serde_json::to_string(&started) {
            text.push('\n');
            ok = (&*conn).write_all(text.as_bytes()).is_ok();
        }
        if ok {
            // A slow reader blocks this thread only: the loop drops what does not fit in the
            // capture's queue, and counts it.
            let _ = conn.set_write_timeout(None);
            let ifaces: Vec<PortId> = self.ports.iter().map(|(p, _)| *p).collect();
            let names = &self.names;
            let name = |p: PortId| {
                names
                    .get(p.ix())
                    .cloned()
                    .unwrap_or_else(|| format!("port {}", p.0))
            };
            let mut w = conn;
            capture::serve(&mut w, &self.stream, &ifaces, &name);
        }
    }
}

impl Drop for Streaming {
    /// However the capture ends (or if it never reaches its client), the loop drops it and
    /// its place is given back.
    fn drop(&mut self) {
        self.send.send(Command::EndCapture(self.stream.id));
        self.captures.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves one control-socket client on a thread of its own: reads its request line (at most
/// [`MAX_REQUEST`] bytes within [`REQUEST_DEADLINE`]), hands the request to the daemon's
/// thread, and writes the answer (or the reason the request was refused); a capture is
/// streamed on this thread until the client closes it.
fn client(
    conn: UnixStream,
    requests: mpsc::Sender<(Request, mpsc::Sender<Reply>)>,
    clients: Arc<std::sync::atomic::AtomicUsize>,
) {
    let answer = |conn: &UnixStream, response: &Response| {
        let _ = conn.set_write_timeout(Some(REQUEST_DEADLINE));
        if let Ok(mut text) = serde_json::to_string(response) {
            text.push('\n');
            let _ = (&*conn).write_all(text.as_bytes());
        }
    };
    if clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
        clients.fetch_sub(1, Ordering::SeqCst);
        answer(
            &conn,
            &Response::Error {
                message: format!(
                    "the lab's daemon is serving {MAX_CLIENTS} clients already; try again"
                ),
            },
        );
        return;
    }
    let count = Arc::clone(&clients);
    let spawned = std::thread::Builder::new()
        .name("vpclab-client".into())
        .spawn(move || {
            let reply = match read_request(&conn) {
                Err(message) => Reply::Answer(Box::new(Response::Error { message })),
                Ok(line) => match serde_json::from_str::<Request>(&line) {
                    Err(e) => Reply::Answer(Box::new(Response::Error {
                        message: format!("bad request: {e}"),
                    })),
                    Ok(req) => {
                        let (tx, rx) = mpsc::channel();
                        match requests.send((req, tx)).ok().and_then(|()| rx.recv().ok()) {
                            Some(r) => r,
                            None => Reply::Answer(Box::new(Response::Error {
                                message: "the lab's daemon is stopping".into(),
                            })),
                        }
                    }
                },
            };
            match reply {
                Reply::Answer(response) => answer(&conn, &response),
                Reply::Capture(streaming) => streaming.run(&conn),
            }
            clients.fetch_sub(1, Ordering::SeqCst);
        });
    if spawned.is_err() {
        // The closure, and with it the connection, is dropped: the client sees it closed.
        count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Reads one request line: at most [`MAX_REQUEST`] bytes, all of it within
/// [`REQUEST_DEADLINE`].
fn read_request(conn: &UnixStream) -> Result<String, String> {
    use std::io::Read;
    let _ = conn.set_nonblocking(false);
    let deadline = StdInstant::now() + REQUEST_DEADLINE;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(StdInstant::now());
        if left.is_zero() {
            return Err(format!(
                "request not complete within {} s: send the whole request line at once",
                REQUEST_DEADLINE.as_secs()
            ));
        }
        let _ = conn.set_read_timeout(Some(left));
        let n = match (&*conn).read(&mut chunk) {
            Ok(0) => return Err("connection closed before a whole request line".into()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                continue
            }
            Err(e) => return Err(format!("reading the request: {e}")),
        };
        let end = chunk[..n].iter().position(|&b| b == b'\n');
        buf.extend_from_slice(&chunk[..end.unwrap_or(n)]);
        if buf.len() > MAX_REQUEST {
            return Err(format!(
                "request line longer than {MAX_REQUEST} bytes: the control socket reads at most that (policy documents are limited to 20,480 characters)"
            ));
        }
        if end.is_some() {
            return String::from_utf8(buf).map_err(|_| "request is not UTF-8".to_string());
        }
    }
}

/// A live change, all or nothing: the change is applied to a copy of `lab` and its snapshot
/// built (`build`) before either is kept; only then do `lab`, `snap` and the recipe (what
/// `describe --name` replays) take it. A change the model refuses, or whose snapshot fails,
/// leaves all three as they were.
fn commit_change<E: std::fmt::Display>(
    lab: &mut Arc<Lab>,
    prev: &Snapshot,
    recipe: &mut Recipe,
    change: crate::model::change::Change,
    build: impl FnOnce(&Lab, &Snapshot) -> Result<Snapshot, E>,
) -> Result<(serde_json::Value, Arc<Snapshot>), Box<Response>> {
    let (next, value) = lab
        .apply_to_copy(&change)
        .map_err(|e| Box::new(Response::ChangeFailed(e)))?;
    let built = build(&next, prev).map_err(|e| {
        Box::new(Response::Error {
            message: format!("the change could not be made on the router, and was not kept: {e}"),
        })
    })?;
    let value = crate::control::shapes::applied(&next, &value);
    *lab = Arc::new(next);
    recipe.changes.push(change);
    Ok((value, Arc::new(built)))
}

impl Daemon {
    fn handle(&mut self, req: Request) -> Reply {
        match req {
            Request::Capture { target } => match self.capture(&target) {
                Ok(s) => Reply::Capture(s),
                Err(message) => Reply::Answer(Box::new(Response::Error { message })),
            },
            other => Reply::Answer(Box::new(self.answer(other))),
        }
    }

    /// Puts a capture of `target` in place in the loop.
    fn capture(&mut self, target: &str) -> Result<Streaming, String> {
        if self.captures.load(Ordering::SeqCst) >= MAX_CAPTURES {
            return Err(format!(
                "lab {} has {MAX_CAPTURES} captures running already: end one (Ctrl-C) and try again",
                self.name
            ));
        }
        let snap = self
            .snapshot()
            .map_err(|_| "the router did not answer".to_string())?;
        let target = resolve_target(&self.lab, &snap, target)?;
        // A network interface without a device is watched by its addresses only.
        let ids: Vec<PortId> = target
            .ports
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !target.addrs.iter().any(|(_, q)| q == p))
            .collect();
        let id = self.next_capture;
        self.next_capture += 1;
        let (tap, stream) = capture::channel(
            id,
            &ids,
            &target.addrs,
            capture::QUEUE_FRAMES,
            capture::QUEUE_BYTES,
        );
        let ports = target.ports;
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::Capture(tap, tx));
        rx.recv_timeout(Duration::from_secs(2))
            .map_err(|_| "the router did not answer".to_string())?;
        self.captures.fetch_add(1, Ordering::SeqCst);
        let names = snap
            .ports
            .iter()
            .map(|p| port_name(&self.lab, &p.kind))
            .collect();
        Ok(Streaming {
            stream,
            ports,
            names,
            send: self.send.clone(),
            captures: Arc::clone(&self.captures),
        })
    }

    fn answer(&mut self, req: Request) -> Response {
        match req {
            Request::Capture { .. } => Response::Error {
                message: "a capture is streamed, not answered".into(),
            },
            Request::Status => self.status(),
            Request::Describe { what, filter } => match resolve(&self.lab, what, &filter) {
                Ok(ids) => Response::Json {
                    value: describe(&self.lab, what, &ids),
                },
                Err(message) => Response::Error { message },
            },
            Request::Recipe => Response::Recipe(self.recipe.clone()),
            Request::FlowLogs { rejected } => self.flow_logs(rejected),
            Request::FlowSamples { why } => self.flow_samples(why),
            Request::TargetHealth { target_group } => self.target_health(target_group.as_deref()),
            Request::Change(change) => {
                let prev = match self.snapshot() {
                    Ok(s) => s,
                    Err(r) => return *r,
                };
                match commit_change(
                    &mut self.lab,
                    &prev,
                    &mut self.recipe,
                    change,
                    |next, prev| Snapshot::build(next, Some(prev)),
                ) {
                    Ok((value, built)) => {
                        self.send
                            .send(Command::Install(built, Arc::clone(&self.lab)));
                        self.register_flow_logs();
                        Response::Json { value }
                    }
                    Err(r) => *r,
                }
            }
            Request::Down => {
                self.stop.store(true, Ordering::SeqCst);
                Response::Stopping
            }
        }
    }

    /// `describe-target-health`, as the AWS CLI prints it.
    fn target_health(&self, group: Option<&str>) -> Response {
        let tg = match group {
            None => None,
            Some(q) => match self.lab.target_groups.iter().find(|t| {
                t.arn == q
                    || t.name == q
                    || t.origin.logical_id.as_deref() == Some(q)
                    || t.tags.name() == Some(q)
            }) {
                Some(t) => Some(t.arn.clone()),
                None => {
                    return Response::Error {
                        message: format!(
                            "TargetGroupNotFound: no target group '{q}' in lab {}: give its ARN or name (vpclab describe target-groups --name {})",
                            self.name, self.name
                        ),
                    }
                }
            },
        };
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::TargetHealth(tx));
        let Ok(all) = rx.recv_timeout(Duration::from_secs(2)) else {
            return Response::Error {
                message: "the router did not answer".into(),
            };
        };
        let descriptions: Vec<serde_json::Value> = all
            .iter()
            .filter(|t| tg.as_deref().is_none_or(|a| a == t.target_group_arn))
            .map(|t| {
                let hc_port = self
                    .lab
                    .target_group(&t.target_group_arn)
                    .and_then(|g| {
                        g.targets
                            .iter()
                            .find(|x| x.id == t.id)
                            .map(|x| g.health_check_port_for(x))
                    })
                    .unwrap_or(t.port);
                let mut health = serde_json::json!({"State": t.state.as_str()});
                if let Some(r) = t.reason {
                    health["Reason"] = r.into();
                }
                if let Some(d) = &t.description {
                    health["Description"] = d.clone().into();
                }
                let mut v = serde_json::json!({
                    "Target": {"Id": t.id, "Port": t.port, "AvailabilityZone": t.az},
                    "HealthCheckPort": hc_port.to_string(),
                    "TargetHealth": health,
                });
                if group.is_none() {
                    v["TargetGroupArn"] = t.target_group_arn.clone().into();
                }
                v
            })
            .collect();
        Response::Json {
            value: serde_json::json!({ "TargetHealthDescriptions": descriptions }),
        }
    }

    /// The router's flow records in VPC Flow Logs' default format (version 2), one packet
    /// each, with the reason of a REJECT after a `#`.
    fn flow_logs(&self, rejected_only: bool) -> Response {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::FlowLog(tx));
        let Ok(records) = rx.recv_timeout(Duration::from_secs(2)) else {
            return Response::Error {
                message: "the router did not answer".into(),
            };
        };
        let lines = records
            .iter()
            .filter(|r| !rejected_only || matches!(r.action, FlowAction::Reject(_)))
            .map(|r| {
                let eni = r
                    .eni
                    .and_then(|e| snap.eni(e))
                    .map_or_else(|| "-".to_string(), |e| e.id.to_string());
                let secs = (self.loop_epoch_ms + r.at.total_millis()) / 1000;
                let k = &r.key;
                // Flow logs give ICMP no ports.
                let (sport, dport) = if k.protocol == 1 {
                    (0, 0)
                } else {
                    (k.src_port, k.dst_port)
                };
                let (action, why) = match &r.action {
                    FlowAction::Accept => ("ACCEPT", String::new()),
                    FlowAction::Reject(d) => ("REJECT", format!(" # {}", snap.explain(d))),
                };
                format!(
                    "2 {ACCOUNT} {eni} {} {} {} {} {} 1 {} {secs} {secs} {action} OK{why}",
                    k.src, k.dst, sport, dport, k.protocol, r.bytes
                )
            })
            .collect();
        Response::Lines { lines }
    }

    /// The flow-log records the router counted, in AWS's terms, for `flow-logs` to
    /// aggregate into windows and print.
    fn flow_samples(&self, why: bool) -> Response {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::FlowEntries(tx));
        let Ok((entries, skipped)) = rx.recv_timeout(Duration::from_secs(2)) else {
            return Response::Error {
                message: "the router did not answer".into(),
            };
        };
        let lab = &self.lab;
        let samples = entries
            .iter()
            .filter_map(|e| {
                let eni = snap.eni(e.key.eni)?;
                let subnet = snap.subnet(eni.subnet)?;
                let vpc = snap.vpc(eni.vpc)?;
                let instance = lab.instances.iter().find(|i| i.eni == eni.id);
                // `az-id` is the zone's id (`apne2-az1`), not its name.
                let az = lab
                    .subnet(&subnet.id)
                    .and_then(|s| lab.region().az_id(&s.availability_zone))
                    .map_or_else(|| "-".to_string(), str::to_string);
                let egress = e.key.direction == FlowDirection::Egress;
                Some(FlowSample {
                    account_id: if instance.is_some() {
                        lab.account_id.clone()
                    } else {
                        "unknown".to_string()
                    },
                    interface_id: eni.id.to_string(),
                    vpc_id: vpc.id.to_string(),
                    subnet_id: subnet.id.to_string(),
                    instance_id: instance.map_or_else(|| "-".to_string(), |i| i.id.to_string()),
                    region: lab.region.clone(),
                    az_id: az,
                    flow_direction: e.key.direction.name().to_string(),
                    srcaddr: e.key.src.to_string(),
                    dstaddr: e.key.dst.to_string(),
                    srcport: e.key.src_port,
                    dstport: e.key.dst_port,
                    protocol: e.key.protocol,
                    packets: e.packets,
                    bytes: e.bytes,
                    start: (self.loop_epoch_ms + e.first.total_millis()) / 1000,
                    end: (self.loop_epoch_ms + e.last.total_millis()) / 1000,
                    accept: e.key.accept,
                    tcp_flags: e.tcp_flags,
                    traffic_path: (egress && vpc.cidr.contains(&e.key.dst)).then_some(1),
                    why: if why {
                        e.reason.map(|d| snap.explain(&d))
                    } else {
                        None
                    },
                })
            })
            .collect();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Response::FlowSamples {
            samples,
            now,
            skipped,
        }
    }

    /// Appends every closed window's records of each flow log to its file (about once a
    /// second; nothing without flow logs). A flow log first seen starts at the current
    /// window; a deleted one is forgotten (its file stays until `down`).
    /// Starts each new flow log at the capture window it was created in (before its
    /// creation is answered), so a flow that follows the answer is never in a window the
    /// delivery has already passed.
    fn register_flow_logs(&mut self) {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for f in &self.lab.flow_logs {
            let interval = self
                .delivery
                .interval_override
                .unwrap_or(u64::from(f.max_aggregation_interval))
                .max(1);
            self.delivery
                .next
                .entry(f.id.to_string())
                .or_insert(wall - wall % interval);
        }
    }

    fn deliver_flow_logs(&mut self) {
        if self.delivery.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.delivery.last = StdInstant::now();
        let lab = Arc::clone(&self.lab);
        self.delivery
            .next
            .retain(|id, _| lab.flow_logs.iter().any(|f| f.id.as_str() == id));
        if lab.flow_logs.is_empty() {
            return;
        }
        let Response::FlowSamples { samples, now, .. } = self.flow_samples(false) else {
            return;
        };
        // A window is closed a second after its end (the router's entries are drained on
        // each tick).
        let cutoff = now.saturating_sub(1);
        for f in &lab.flow_logs {
            let interval = self
                .delivery
                .interval_override
                .unwrap_or(u64::from(f.max_aggregation_interval))
                .max(1);
            let open = cutoff - cutoff % interval;
            let next = *self
                .delivery
                .next
                .entry(f.id.to_string())
                .or_insert(now - now % interval);
            if open <= next {
                continue;
            }
            self.delivery.next.insert(f.id.to_string(), open);
            let Ok(format) = Format::parse(f.log_format.as_deref().unwrap_or("")) else {
                continue;
            };
            let mine: Vec<FlowSample> = samples
                .iter()
                .filter(|s| {
                    f.traffic_type.keeps(s.accept)
                        && f.resource.covers(&s.interface_id, &s.subnet_id, &s.vpc_id)
                        && (next..open).contains(&(s.start - s.start % interval))
                })
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut text = String::new();
            for r in aggregate(&mine, interval) {
                text.push_str(&format.render(&r));
                text.push('\n');
            }
            let path = self.delivery.dir.join(format!("{}.log", f.id));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o644)
                .open(&path);
            if let Ok(mut file) = file {
                let _ = file.write_all(text.as_bytes());
            }
        }
    }

    /// The router's current snapshot (the router holds it; the daemon borrows it).
    fn snapshot(&self) -> Result<Arc<Snapshot>, Box<Response>> {
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::Snapshot(tx));
        rx.recv_timeout(Duration::from_secs(2)).map_err(|_| {
            Box::new(Response::Error {
                message: "the router did not answer".into(),
            })
        })
    }

    fn status(&self) -> Response {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(r) => return *r,
        };
        let (tx, rx) = mpsc::channel();
        self.send.send(Command::Counters(tx));
        let Ok(report) = rx.recv_timeout(Duration::from_secs(2)) else {
            return Response::Error {
                message: "the router did not answer".into(),
            };
        };
        let ports = snap
            .ports
            .iter()
            .zip(report.counters.ports.iter())
            .enumerate()
            .map(|(i, (p, c))| PortStatus {
                kernel_dropped: self
                    .kernel_drops
                    .get(i)
                    .and_then(Option::as_ref)
                    .map_or(0, LinkDrops::read),
                name: port_name(&self.lab, &p.kind),
                rx_frames: c.rx_frames,
                rx_bytes: c.rx_bytes,
                tx_frames: c.tx_frames,
                tx_bytes: c.tx_bytes,
                dropped: c.dropped,
            })
            .collect();
        Response::Status(Status {
            lab: self.name.clone(),
            region: self.lab.region.clone(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            forwarded: report.counters.forwarded,
            delivered: report.counters.delivered,
            answered: report.counters.answered,
            drops: DropKind::ALL
                .iter()
                .map(|k| (k.name().to_string(), report.counters.dropped(*k)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            ports,
            tracked_flows: report.tracked,
            services: {
                let mut lines = report.services;
                if report.stats.misdirected > 0 {
                    lines.push(format!(
                        "{} packets between the router and the services had no port (a bug: please report)",
                        report.stats.misdirected
                    ));
                }
                lines
            },
            user_data_failures: self.failures.clone(),
            workers: self.workers,
            worker_frames: report.worker_frames,
            captures: report.captures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::change::TargetRef;

    fn seed2() -> Lab {
        crate::template::load(
            include_str!("../../templates/seed2-gateway-endpoint.yaml"),
            &crate::template::Options::default(),
        )
        .expect("seed-2 loads")
    }

    #[test]
    fn a_change_whose_snapshot_fails_is_not_kept_anywhere() {
        let mut lab = Arc::new(seed2());
        let snap = Snapshot::build(&lab, None).unwrap();
        let mut recipe = Recipe {
            template: String::new(),
            file: String::new(),
            region: "ap-northeast-2".into(),
            parameters: Vec::new(),
            changes: Vec::new(),
        };
        let route = || crate::model::change::Change::CreateRoute {
            route_table: "CloudNetaPrivateRT".into(),
            destination: "0.0.0.0/0".into(),
            target: TargetRef::Gateway("CloudNetaIGW".into()),
        };
        let before_lab = format!("{:?}", lab.route_tables);
        let r = commit_change(&mut lab, &snap, &mut recipe, route(), |_, _| {
            Err::<Snapshot, _>("injected failure")
        });
        let Err(e) = r else { panic!("{r:?}") };
        let Response::Error { message } = *e else {
            panic!("{e:?}")
        };
        assert!(message.contains("injected failure") && message.contains("not kept"));
        assert_eq!(format!("{:?}", lab.route_tables), before_lab);
        assert!(recipe.changes.is_empty());
        // The same change with a snapshot that builds: kept in the lab and the recipe, and
        // the new snapshot (for the router) routes the new route.
        let (_, built) = commit_change(&mut lab, &snap, &mut recipe, route(), |next, prev| {
            Snapshot::build(next, Some(prev))
        })
        .unwrap();
        assert_ne!(format!("{:?}", lab.route_tables), before_lab);
        assert_eq!(recipe.changes.len(), 1);
        let private_rt = |s: &Snapshot| {
            s.route_tables
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join("")
        };
        assert_ne!(private_rt(&built), private_rt(&snap));
    }
}
