//! End-to-end benchmark: lcu-rules against a minimal hand-written client, both talking to the
//! simulated client through TLS, the WAMP websocket and HTTP, each in its own process.
//!
//! The baseline is this very benchmark binary re-run in a child process: raw tokio-tungstenite,
//! `serde_json` parsing of every frame, one reused reqwest client, at most 8 POSTs in flight, and
//! nothing but the auto-accept. It is the practical limit of this machine; lcu-rules (`run`, with
//! its default info logging, the accept rule in `parallel` mode with `max: 1000`) is reported as a
//! ratio to it.
//!
//! Scenarios: latency over 2,000 sequential ready checks with 0 and with 20 unrelated events
//! (real 0.45-4.7 KB payloads) before each, from the ready-check frame reaching the socket to the
//! accept POST arriving; throughput of 10,000 ready checks flat out, and of 2,000 with 20
//! unrelated events each; peak RSS during each scenario (VmHWM, reset before each) and idle RSS
//! after connecting.
//!
//! `-- --realistic` runs the load a real client makes instead (about 90 s): the recorded
//! champion selects (`rules/fixtures/` and the real captures in `../shared/lcu-data/captures/`)
//! replayed at 10× their real pace to both contenders at once, each framed by gameflow-phase
//! events, while every half second one of them gets a ready check after 20 unrelated events;
//! lcu-rules runs the rule library of `rules/` beside the accept rule. It reports each
//! contender's ready-check latency, CPU time and peak RSS over the whole replay: the figures
//! that decide whether a piece of machinery stays (with `LCU_RULES_BENCH_AGAINST` naming the
//! build without it).
//!
//! Run: `cargo bench --bench e2e` (about two minutes; `-- --quick` for a shorter pass). With
//! `taskset` and two or more CPUs it pins the simulated client to CPU 0 and the contenders to CPU
//! 1 (`LCU_RULES_BENCH_PIN=0` leaves placement to the scheduler). `-- --compare` alternates
//! flat-out rounds for a minute to settle the throughput ratio; with `LCU_RULES_BENCH_AGAINST`
//! naming another lcu-rules binary, that build takes the baseline's place.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use lcu_rules::event::Event;
use lcu_rules::sim::SimClient;
use lcu_rules::sim::{READY_CHECK, ready_check};

const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";
const BASELINE_VARIABLE: &str = "LCU_RULES_BENCH_BASELINE";
/// Another lcu-rules build to run in the baseline's place (A/B of two builds with `--compare`).
const AGAINST_VARIABLE: &str = "LCU_RULES_BENCH_AGAINST";

const BENCH_RULE: &str = "rules:
  - id: accept-ready-check
    on: /lol-matchmaking/v1/ready-check
    mode: parallel
    max: 1000
    # Thousands of ready checks a minute is this benchmark's point, not a loop.
    breaker: off
    when:
      - path: $.data.state
        equals: InProgress
      - path: $.data.playerResponse
        equals: None
    do:
      - request: POST /lol-matchmaking/v1/ready-check/accept
";

fn main() {
    if let Ok(args) = std::env::var(BASELINE_VARIABLE) {
        let (lockfile, ca) = args.split_once('\n').expect("lockfile and CA paths");
        baseline::run(Path::new(lockfile), Path::new(ca));
        return;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let _ = CORES.set(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    );
    let _ = PINNED.set(std::env::var("LCU_RULES_BENCH_WRAPPER").is_err() && pin());
    lcu_rules::client::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(bench(quick));
}

/// One contender: its simulated client and its process.
struct Contender {
    name: &'static str,
    sim: SimClient,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Contender {
    async fn start(name: &'static str) -> Contender {
        let dir = tempfile::tempdir().expect("temp dir");
        let sim = SimClient::start(&dir.path().join("sim"))
            .await
            .expect("sim");
        let against = std::env::var_os(AGAINST_VARIABLE).filter(|_| name == "baseline");
        let child = match name {
            "baseline" if against.is_none() => wrapped(std::env::current_exe().expect("own path"))
                .env(
                    BASELINE_VARIABLE,
                    format!("{}\n{}", sim.lockfile().display(), sim.ca_file().display()),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("baseline"),
            _ => {
                let rules = dir.path().join("rules");
                std::fs::create_dir(&rules).expect("rules folder");
                std::fs::write(rules.join("bench-rule.yaml"), BENCH_RULE).expect("rule file");
                if std::env::args().any(|a| a == "--realistic") {
                    realistic::copy_library(&rules);
                }
                // The product's defaults, except under a profiler: everything is many times
                // slower there, the rules would fall behind and the reader would coalesce ready
                // checks, so the lag limit is lifted.
                let config = dir.path().join("bench-config.yaml");
                let profiling = std::env::args().any(|a| a.starts_with("--profile"));
                let settings = if profiling {
                    "engine:\n  max_lag: 1h\n"
                } else {
                    "{}\n"
                };
                std::fs::write(&config, settings).expect("config file");
                let program = against.map_or_else(
                    || PathBuf::from(env!("CARGO_BIN_EXE_lcu-rules")),
                    PathBuf::from,
                );
                wrapped(program)
                    .args(["run", "--config"])
                    .arg(&config)
                    .arg("--rules")
                    .arg(&rules)
                    .arg("--lockfile")
                    .arg(sim.lockfile())
                    .arg("--ca")
                    .arg(sim.ca_file())
                    // A private home: the first run writes a config and copies examples.
                    .env("HOME", dir.path())
                    .env("XDG_CONFIG_HOME", dir.path().join("config"))
                    .env("XDG_DATA_HOME", dir.path().join("data"))
                    .env("XDG_RUNTIME_DIR", dir.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("lcu-rules")
            }
        };
        assert!(
            sim.wait_for_sockets(1, Duration::from_secs(60)).await,
            "{name} did not connect"
        );
        Contender {
            name,
            sim,
            child,
            _dir: dir,
        }
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Resets the peak RSS so the next reading covers what follows only.
    fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.child.id()), "5");
    }

    /// Asks the process to stop (SIGINT, as Ctrl-C would), then kills it if it lingers.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        for _ in 0..600 {
            if let Ok(Some(_)) = self.child.try_wait() {
                self.sim.stop();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.sim.stop();
    }
}

/// The contender's command, under `LCU_RULES_BENCH_WRAPPER` (e.g. `valgrind --tool=callgrind`)
/// when that is set: how the figures in the closing notes were profiled.
fn wrapped(program: PathBuf) -> Command {
    match std::env::var("LCU_RULES_BENCH_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut words = wrapper.split_whitespace();
            let mut command = Command::new(words.next().unwrap_or("env"));
            command.args(words).arg(program);
            command
        }
        _ if PINNED.get().copied().unwrap_or(false) => {
            let mut command = Command::new("taskset");
            command.args(["-c", "1"]).arg(program);
            command
        }
        _ => Command::new(program),
    }
}

/// Whether the benchmark pinned itself (the simulated client) to CPU 0 and runs the contenders
/// on CPU 1.
static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
/// The CPUs this machine has (counted before pinning).
static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();

/// Pins this process to CPU 0 so that the contenders, pinned to CPU 1, are woken across cores
/// the same way every time: left to the scheduler, where each process lands decides the median
/// more than the contenders do (measured: the baseline's p50 moved between 37 and 125 µs from
/// one run to the next). `LCU_RULES_BENCH_PIN=0` turns it off.
fn pin() -> bool {
    if std::env::var("LCU_RULES_BENCH_PIN").is_ok_and(|v| v == "0")
        || std::thread::available_parallelism().map_or(true, |n| n.get() < 2)
    {
        return false;
    }
    Command::new("taskset")
        .args(["-pc", "0", &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn unrelated_events() -> Vec<Event> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/data/unrelated-events.jsonl");
    let text = std::fs::read_to_string(path).expect("unrelated events");
    let events: Vec<Event> = lcu_rules::event::parse_recording(&text)
        .expect("valid")
        .into_iter()
        .map(|r| r.event)
        .collect();
    (0..20).map(|i| events[i % events.len()].clone()).collect()
}

/// Publishes without outrunning the slowest reader (the simulator's buffer must never overflow).
async fn publish_paced(sim: &SimClient, event: &Event) {
    while sim.backlog() > 4096 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    sim.publish_raw(event);
}

async fn pop_ready_check(sim: &SimClient) -> Arc<lcu_rules::sim::Published> {
    while sim.backlog() > 4096 {
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)))
}

struct Latency {
    samples: Vec<Duration>,
    peak_kb: u64,
}

/// One ready check (after `unrelated` events) through one contender: the latency.
async fn one_latency(contender: &Contender, unrelated: &[Event]) -> Option<Duration> {
    let sim = &contender.sim;
    for event in unrelated {
        publish_paced(sim, event).await;
    }
    let from = sim.requests().len();
    let popped = pop_ready_check(sim).await;
    let index = sim
        .wait_for_request("POST", ACCEPT, from, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("{}: a ready check was not accepted", contender.name));
    let arrived = sim.requests()[index].at;
    sim.clear_requests();
    popped
        .handed_at()
        .map(|handed| arrived.saturating_duration_since(handed))
}

/// Sequential ready checks, alternating between the contenders (and which goes first) so that
/// the machine's drift weighs on both alike.
async fn latency(pair: [&Contender; 2], count: usize, unrelated: &[Event]) -> [Latency; 2] {
    pair.iter().for_each(|c| c.reset_peak());
    let mut samples = [Vec::with_capacity(count), Vec::with_capacity(count)];
    for i in 0..count {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            if let Some(sample) = one_latency(pair[which], unrelated).await {
                samples[which].push(sample);
            }
        }
    }
    let [mut a, mut b] = samples;
    a.sort();
    b.sort();
    [
        Latency {
            samples: a,
            peak_kb: pair[0].status_kb("VmHWM:"),
        },
        Latency {
            samples: b,
            peak_kb: pair[1].status_kb("VmHWM:"),
        },
    ]
}

#[derive(Default)]
struct Throughput {
    accepted: usize,
    expected: usize,
    elapsed: Duration,
    events: usize,
    peak_kb: u64,
}

impl Throughput {
    fn accepts_per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Adds one round's counts and time.
    fn add(&mut self, round: &Throughput) {
        self.accepted += round.accepted;
        self.expected += round.expected;
        self.elapsed += round.elapsed;
        self.events += round.events;
    }
}

/// `count` ready checks published as fast as the contender reads them; from the first publish
/// to the last accept.
async fn throughput_round(contender: &Contender, count: usize, unrelated: &[Event]) -> Throughput {
    let sim = &contender.sim;
    sim.clear_requests();
    let start = Instant::now();
    for _ in 0..count {
        for event in unrelated {
            publish_paced(sim, event).await;
        }
        pop_ready_check(sim).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.count_requests("POST", ACCEPT) < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let requests = sim.requests();
    let last = requests
        .iter()
        .filter(|r| r.path == ACCEPT)
        .map(|r| r.at)
        .max()
        .unwrap_or(start);
    let accepted = requests.iter().filter(|r| r.path == ACCEPT).count();
    sim.clear_requests();
    Throughput {
        accepted,
        expected: count,
        elapsed: last.saturating_duration_since(start),
        events: count * (unrelated.len() + 2),
        peak_kb: 0,
    }
}

/// Five alternating rounds per contender, summed.
async fn throughput(pair: [&Contender; 2], count: usize, unrelated: &[Event]) -> [Throughput; 2] {
    pair.iter().for_each(|c| c.reset_peak());
    let rounds = 5;
    let mut totals = [Throughput::default(), Throughput::default()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let result = throughput_round(pair[which], count / rounds, unrelated).await;
            totals[which].add(&result);
        }
    }
    totals[0].peak_kb = pair[0].status_kb("VmHWM:");
    totals[1].peak_kb = pair[1].status_kb("VmHWM:");
    totals
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let index = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index]
}

fn micros(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs == 0.0 {
        "-".into()
    } else {
        format!("{:.2}×", ours / theirs)
    }
}

/// `--profile --timeline`: a flat-out round that also prints when the frames reached the socket
/// and when the accepts arrived (which side a round waits on).
async fn timeline_round(contender: &Contender, count: usize) -> Throughput {
    let sim = &contender.sim;
    sim.clear_requests();
    let start = Instant::now();
    let mut published = Vec::new();
    for _ in 0..count {
        published.push(pop_ready_check(sim).await);
    }
    let publish_done = Instant::now();
    while sim.count_requests("POST", ACCEPT) < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let requests = sim.requests();
    let times: Vec<_> = requests
        .iter()
        .filter(|r| r.path == ACCEPT)
        .map(|r| r.at)
        .collect();
    let handed: Vec<_> = published.iter().filter_map(|p| p.handed_at()).collect();
    let ms = |t: Instant| t.saturating_duration_since(start).as_secs_f64() * 1000.0;
    let q = |v: &[Instant], f: f64| ms(v[((v.len() as f64 * f) as usize).min(v.len() - 1)]);
    println!(
        "publish loop {:.1} ms; frames handed 50% {:.1} 100% {:.1} ms; accepts 1st {:.1} 25% {:.1} 50% {:.1} 75% {:.1} 100% {:.1} ms",
        ms(publish_done),
        q(&handed, 0.5),
        q(&handed, 1.0),
        q(&times, 0.0),
        q(&times, 0.25),
        q(&times, 0.5),
        q(&times, 0.75),
        q(&times, 1.0)
    );
    let last = times.iter().max().copied().unwrap_or(start);
    sim.clear_requests();
    Throughput {
        accepted: times.len(),
        expected: count,
        elapsed: last.saturating_duration_since(start),
        events: 0,
        peak_kb: 0,
    }
}

/// `--profile`: only lcu-rules, only flat-out ready checks, for 20 s (attach a profiler to it).
async fn profile_flat_out(name: &'static str) {
    let ours = Contender::start(name).await;
    println!("profiling pid {}", ours.child.id());
    let seconds = bench_seconds(20);
    let until = Instant::now() + Duration::from_secs(seconds);
    let (mut accepted, mut theirs, mut sims) = (0, Duration::ZERO, Duration::ZERO);
    while Instant::now() < until {
        let (their_cpu, sim_cpu) = (cpu_time(ours.child.id()), cpu_time(std::process::id()));
        let result = if std::env::args().any(|a| a == "--timeline") {
            timeline_round(&ours, 2_000).await
        } else {
            throughput_round(&ours, 2_000, &[]).await
        };
        println!(
            "{} accepts/s ({}/{} accepted)",
            result.accepts_per_second() as u64,
            result.accepted,
            result.expected
        );
        accepted += result.accepted as u32;
        theirs += cpu_time(ours.child.id()).saturating_sub(their_cpu);
        sims += cpu_time(std::process::id()).saturating_sub(sim_cpu);
    }
    // CPU per accept varies less from run to run than accepts per second do.
    println!(
        "CPU per accept: {name} {:.1} µs, simulated client {:.1} µs",
        theirs.as_secs_f64() * 1e6 / f64::from(accepted.max(1)),
        sims.as_secs_f64() * 1e6 / f64::from(accepted.max(1)),
    );
    ours.stop();
}

/// `--compare`: flat-out rounds alternating between the baseline and lcu-rules for
/// `LCU_RULES_BENCH_SECONDS` (60 s by default): many short rounds interleaved, so that the
/// machine's drift weighs on both alike and the ratio settles.
async fn compare_flat_out() {
    let base = Contender::start("baseline").await;
    let ours = Contender::start("lcu-rules").await;
    let seconds = bench_seconds(60);
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut totals = [Throughput::default(), Throughput::default()];
    let mut cpu = [Duration::ZERO; 2];
    let mut split = [(Duration::ZERO, Duration::ZERO); 2];
    let mut ratios = Vec::new();
    let mut round = 0;
    while Instant::now() < until {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut rates = [0.0; 2];
        for which in order {
            let contender = [&base, &ours][which];
            let before = cpu_time(contender.child.id());
            let (user, system) = user_and_system_time(contender.child.id());
            let result = throughput_round(contender, 2_000, &[]).await;
            cpu[which] += cpu_time(contender.child.id()).saturating_sub(before);
            let (user_after, system_after) = user_and_system_time(contender.child.id());
            split[which].0 += user_after.saturating_sub(user);
            split[which].1 += system_after.saturating_sub(system);
            rates[which] = result.accepts_per_second();
            totals[which].add(&result);
        }
        ratios.push(rates[1] / rates[0]);
        round += 1;
    }
    base.stop();
    ours.stop();
    if ratios.is_empty() {
        return;
    }
    ratios.sort_by(f64::total_cmp);
    let per_accept = |c: Duration, t: &Throughput| c.as_secs_f64() * 1e6 / t.accepted.max(1) as f64;
    let against = std::env::var(AGAINST_VARIABLE).map_or("baseline".into(), |p| p);
    println!("{round} rounds of 2,000 ready checks flat out, alternating:");
    for (name, which) in [(against.as_str(), 0), ("lcu-rules", 1)] {
        let t = &totals[which];
        println!(
            "  {name}: {}/{} accepted, {:.0} accepts/s, CPU {:.1} µs per accept (user {:.1}, system {:.1})",
            t.accepted,
            t.expected,
            t.accepts_per_second(),
            per_accept(cpu[which], t),
            per_accept(split[which].0, t),
            per_accept(split[which].1, t)
        );
    }
    println!(
        "  ratio of the totals {:.3}; round-pair ratios: median {:.3}, middle half {:.3}-{:.3}",
        totals[1].accepts_per_second() / totals[0].accepts_per_second(),
        ratios[ratios.len() / 2],
        ratios[ratios.len() / 4],
        ratios[ratios.len() * 3 / 4]
    );
}

/// How long a timed mode runs: `LCU_RULES_BENCH_SECONDS`, or `default` seconds.
fn bench_seconds(default: u64) -> u64 {
    std::env::var("LCU_RULES_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The time every thread of process `pid` has run on a CPU (from `/proc/<pid>/task/*/schedstat`).
fn cpu_time(pid: u32) -> Duration {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Duration::ZERO;
    };
    let nanos = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// The user and system CPU time of process `pid`, from `/proc/<pid>/stat` (in clock ticks of
/// 1/100 s, the fixed `USER_HZ` of Linux's proc files): coarse, so only sums over many rounds
/// say anything.
fn user_and_system_time(pid: u32) -> (Duration, Duration) {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (Duration::ZERO, Duration::ZERO);
    };
    // The fields after the command name, which is in parentheses and may contain spaces:
    // utime and stime are the 12th and 13th of them.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        Duration::from_millis(ticks(11) * 10),
        Duration::from_millis(ticks(12) * 10),
    )
}

async fn bench(quick: bool) {
    if std::env::args().any(|a| a == "--profile") {
        return profile_flat_out("lcu-rules").await;
    }
    if std::env::args().any(|a| a == "--profile-baseline") {
        return profile_flat_out("baseline").await;
    }
    if std::env::args().any(|a| a == "--compare") {
        return compare_flat_out().await;
    }
    if std::env::args().any(|a| a == "--realistic") {
        return realistic::run().await;
    }
    let (sequential, flat_out, mixed) = if quick {
        (300, 2_000, 300)
    } else {
        (2_000, 10_000, 2_000)
    };
    let unrelated = unrelated_events();
    println!(
        "lcu-rules end-to-end benchmark ({} cores){}{}",
        CORES.get().copied().unwrap_or(1),
        if quick { ", quick pass" } else { "" },
        if PINNED.get().copied().unwrap_or(false) {
            "; simulated client pinned to CPU 0, both contenders to CPU 1"
        } else {
            ""
        }
    );
    let base = Contender::start("baseline").await;
    let ours = Contender::start("lcu-rules").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = [base.status_kb("VmRSS:"), ours.status_kb("VmRSS:")];

    let mut latencies = Vec::new();
    for (label, events) in [
        ("0 unrelated events", &unrelated[..0]),
        ("20 unrelated events", &unrelated[..]),
    ] {
        let [a, b] = latency([&base, &ours], sequential, events).await;
        latencies.push((label, a, b));
    }
    let mut throughputs = Vec::new();
    for (label, count, events) in [
        ("ready checks flat out", flat_out, &unrelated[..0]),
        ("with 20 unrelated each", mixed, &unrelated[..]),
    ] {
        let [a, b] = throughput([&base, &ours], count, events).await;
        throughputs.push((label, count, a, b));
    }
    let lagged = base.sim.lagged_events() + ours.sim.lagged_events();
    base.stop();
    ours.stop();

    println!(
        "\nLatency: ready-check frame handed to the socket → accept POST received ({sequential} sequential ready checks)"
    );
    println!(
        "{:<22} {:>5}  {:>10} {:>10} {:>7}",
        "", "", "baseline", "lcu-rules", "ratio"
    );
    for (label, a, b) in &latencies {
        for (name, p) in [("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)] {
            let (x, y) = (percentile(&a.samples, p), percentile(&b.samples, p));
            println!(
                "{label:<22} {name:>5}  {:>10} {:>10} {:>7}",
                micros(x),
                micros(y),
                ratio(y.as_secs_f64(), x.as_secs_f64())
            );
        }
        println!(
            "{label:<22} {:>5}  {:>7} KB {:>7} KB",
            "peak", a.peak_kb, b.peak_kb
        );
    }
    println!("\nThroughput");
    for (label, count, a, b) in &throughputs {
        let events = |t: &Throughput| t.events as f64 / t.elapsed.as_secs_f64().max(1e-9);
        println!("{count} {label}:");
        println!(
            "  baseline : {}/{} accepted, {:.0} accepts/s, {:.0} events/s, peak RSS {} KB",
            a.accepted,
            a.expected,
            a.accepts_per_second(),
            events(a),
            a.peak_kb
        );
        println!(
            "  lcu-rules: {}/{} accepted, {:.0} accepts/s, {:.0} events/s, peak RSS {} KB",
            b.accepted,
            b.expected,
            b.accepts_per_second(),
            events(b),
            b.peak_kb
        );
        println!(
            "  ratio (lcu-rules / baseline): {}",
            ratio(b.accepts_per_second(), a.accepts_per_second())
        );
    }
    println!(
        "\nIdle RSS after connecting: baseline {} KB, lcu-rules {} KB",
        idle[0], idle[1]
    );
    if lagged > 0 {
        println!(
            "warning: the simulator's readers lagged by {lagged} events: figures are not valid"
        );
    }
}

/// The baseline: the least a hand-written auto-accept client can do.
mod baseline {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    pub fn run(lockfile: &Path, ca: &Path) {
        lcu_rules::client::install_crypto_provider();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(client(lockfile, ca));
    }

    async fn client(lockfile: &Path, ca: &Path) {
        let text = std::fs::read_to_string(lockfile).expect("lockfile");
        let fields: Vec<&str> = text.trim().split(':').collect();
        let (port, token) = (fields[2], fields[3]);
        let auth = format!("Basic {}", base64_encode(&format!("riot:{token}")));
        let ca_pem = std::fs::read(ca).expect("ca");
        let mut roots = rustls::RootCertStore::empty();
        for pem in [lcu_rules::client::RIOT_ROOT_PEM, &ca_pem[..]] {
            for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(pem) {
                let cert: rustls_pki_types::CertificateDer<'static> = cert.expect("pem");
                roots.add(cert).expect("root");
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut certs =
            vec![reqwest::Certificate::from_pem(lcu_rules::client::RIOT_ROOT_PEM).expect("riot")];
        certs.push(reqwest::Certificate::from_pem(&ca_pem).expect("ca"));
        let http = reqwest::Client::builder()
            .tls_certs_only(certs)
            .http1_only()
            .no_proxy()
            .tcp_nodelay(true)
            .build()
            .expect("http");
        let mut request = format!("wss://127.0.0.1:{port}/")
            .into_client_request()
            .expect("request");
        request
            .headers_mut()
            .insert("authorization", auth.parse().expect("header"));
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(32 << 20));
        let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config),
            true,
            Some(tokio_tungstenite::Connector::Rustls(Arc::new(tls))),
        )
        .await
        .expect("websocket");
        socket
            .send(Message::text("[5,\"OnJsonApiEvent\"]"))
            .await
            .expect("subscribe");
        let in_flight = Arc::new(tokio::sync::Semaphore::new(8));
        let url = format!("https://127.0.0.1:{port}{ACCEPT}");
        while let Some(Ok(message)) = socket.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            if text.is_empty() {
                continue;
            }
            let Ok(frame) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let payload = &frame[2];
            if payload["uri"] == READY_CHECK
                && payload["data"]["state"] == "InProgress"
                && payload["data"]["playerResponse"] == "None"
            {
                let permit = in_flight.clone().acquire_owned().await.expect("permit");
                let (http, url, auth) = (http.clone(), url.clone(), auth.clone());
                tokio::spawn(async move {
                    let _ = http.post(url).header("authorization", auth).send().await;
                    drop(permit);
                });
            }
        }
    }

    fn base64_encode(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    }
}

/// The realistic workload (see the module documentation).
mod realistic {
    use super::*;
    use lcu_rules::event::EventType;

    /// How much faster than real time the recordings are replayed.
    const PACE: f64 = 10.0;
    /// Time between two ready checks (they alternate between the contenders).
    const READY_CHECK_EVERY: Duration = Duration::from_millis(500);
    const PHASE: &str = "/lol-gameflow/v1/gameflow-phase";
    const SESSION: &str = "/lol-champ-select/v1/session";

    /// The library's rules, but for the accept rule, which the bench rule stands in for (the
    /// library's has a `single` mode meant for one ready check at a time).
    pub(super) fn copy_library(into: &Path) {
        let library = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules");
        for entry in std::fs::read_dir(&library).expect("rules folder").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.extension().is_some_and(|e| e == "yaml") && name != "accept-ready-check.yaml" {
                std::fs::copy(&path, into.join(name)).expect("copy rule");
            }
        }
        // The library's tests read their recordings from there.
        let fixtures = into.join("fixtures");
        std::fs::create_dir_all(&fixtures).expect("fixtures folder");
        for entry in std::fs::read_dir(library.join("fixtures"))
            .expect("fixtures")
            .flatten()
        {
            std::fs::copy(entry.path(), fixtures.join(entry.file_name())).expect("copy fixture");
        }
    }

    /// One step of the replay: when (from the start, already sped up) and what.
    struct Step {
        at: Duration,
        uri: String,
        event_type: EventType,
        data: Value,
    }

    fn phase(at: Duration, phase: &str) -> Step {
        Step {
            at,
            uri: PHASE.into(),
            event_type: EventType::Update,
            data: Value::String(phase.into()),
        }
    }

    /// Every recorded champion select, one after the other, at `PACE`.
    fn timeline() -> Vec<Step> {
        let mut steps = Vec::new();
        let mut start = Duration::ZERO;
        for session in sessions() {
            steps.push(phase(start, "ChampSelect"));
            let first = session.first().map_or(0.0, |(ms, ..)| *ms);
            let mut last = start;
            for (ms, uri, event_type, data) in session {
                let at = start + Duration::from_secs_f64((ms - first).max(0.0) / 1000.0 / PACE);
                last = at;
                steps.push(Step {
                    at,
                    uri,
                    event_type,
                    data,
                });
            }
            steps.push(phase(last + Duration::from_millis(100), "InProgress"));
            start = last + Duration::from_millis(500);
        }
        steps
    }

    type Recorded = (f64, String, EventType, Value);

    fn sessions() -> Vec<Vec<Recorded>> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut sessions = Vec::new();
        let fixture = root.join("rules/fixtures/champ-select-rez-20251208.jsonl");
        let recorded = lcu_rules::event::read_recording(&fixture).expect("fixture");
        sessions.push(
            recorded
                .into_iter()
                .map(|r| {
                    (
                        r.time_ms.unwrap_or(0.0),
                        r.event.uri.clone(),
                        r.event.event_type,
                        r.event.data.value().clone(),
                    )
                })
                .collect(),
        );
        let captures = root.join("../shared/lcu-data/captures/champ-select");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&captures)
            .map(|dir| dir.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files {
            if let Some(points) = data_points(&file) {
                sessions.push(points);
            }
        }
        sessions
    }

    /// A capture of session snapshots (`{"dataPoints": [{time, isChampSelectActive, session}]}`)
    /// as the session updates the client would have sent.
    fn data_points(file: &Path) -> Option<Vec<Recorded>> {
        let text = std::fs::read_to_string(file).ok()?;
        let value: Value = serde_json::from_str(&text).ok()?;
        let points = value.get("dataPoints")?.as_array()?;
        let parsed = points
            .iter()
            .filter(|p| p["isChampSelectActive"] == Value::Bool(true))
            .filter_map(|p| {
                let time = chrono_ms(p["time"].as_str()?)?;
                Some((
                    time,
                    SESSION.to_string(),
                    EventType::Update,
                    p["session"].clone(),
                ))
            })
            .collect();
        Some(parsed)
    }

    /// Milliseconds of an RFC 3339 time (`2019-10-27T08:15:18.012Z`), through the same parser the
    /// recordings use.
    fn chrono_ms(text: &str) -> Option<f64> {
        let line = serde_json::json!({"timestamp": text, "uri": PHASE, "eventType": "Update", "data": null});
        lcu_rules::event::parse_recording(&line.to_string())
            .ok()?
            .into_iter()
            .next()?
            .time_ms
    }

    struct Figures {
        latencies: Vec<Duration>,
        cpu: Duration,
        peak_kb: u64,
    }

    async fn replay(pair: [&Contender; 2], steps: &[Step]) {
        let started = Instant::now();
        for step in steps {
            tokio::time::sleep_until(started + step.at).await;
            for contender in pair {
                contender
                    .sim
                    .publish(&step.uri, step.event_type, step.data.clone());
            }
        }
    }

    async fn ready_checks(pair: [&Contender; 2], until: Duration) -> [Vec<Duration>; 2] {
        let unrelated = unrelated_events();
        let started = Instant::now();
        let mut samples = [Vec::new(), Vec::new()];
        let mut next = started;
        let mut which = 0;
        while next.duration_since(started) < until {
            tokio::time::sleep_until(next).await;
            if let Some(sample) = one_latency(pair[which], &unrelated).await {
                samples[which].push(sample);
            }
            which = 1 - which;
            next += READY_CHECK_EVERY;
        }
        samples
    }

    pub(super) async fn run() {
        let steps = timeline();
        let length = steps.last().map_or(Duration::ZERO, |s| s.at);
        println!(
            "lcu-rules realistic benchmark: {} recorded events over {:.0} s ({}× real pace), a ready check every {} ms",
            steps.len(),
            length.as_secs_f64(),
            PACE,
            READY_CHECK_EVERY.as_millis()
        );
        let base = Contender::start("baseline").await;
        let ours = Contender::start("lcu-rules").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pair = [&base, &ours];
        pair.iter().for_each(|c| c.reset_peak());
        let cpu_before = pair.map(|c| cpu_time(c.child.id()));
        let ((), samples) = tokio::join!(replay(pair, &steps), ready_checks(pair, length));
        let figures: Vec<Figures> = pair
            .iter()
            .zip(samples)
            .zip(cpu_before)
            .map(|((c, mut latencies), before)| {
                latencies.sort();
                Figures {
                    latencies,
                    cpu: cpu_time(c.child.id()).saturating_sub(before),
                    peak_kb: c.status_kb("VmHWM:"),
                }
            })
            .collect();
        let lagged = base.sim.lagged_events() + ours.sim.lagged_events();
        let names = [
            if std::env::var_os(AGAINST_VARIABLE).is_some() {
                "against"
            } else {
                "baseline"
            },
            "lcu-rules",
        ];
        base.stop();
        ours.stop();
        println!(
            "{:<24} {:>10} {:>10} {:>7}",
            "", names[0], names[1], "ratio"
        );
        let [a, b] = [&figures[0], &figures[1]];
        for (name, p) in [("ready check p50", 0.50), ("ready check p99", 0.99)] {
            let (x, y) = (percentile(&a.latencies, p), percentile(&b.latencies, p));
            println!(
                "{name:<24} {:>10} {:>10} {:>7}",
                micros(x),
                micros(y),
                ratio(y.as_secs_f64(), x.as_secs_f64())
            );
        }
        println!(
            "{:<24} {:>8}ms {:>8}ms {:>7}",
            "CPU time over the replay",
            a.cpu.as_millis(),
            b.cpu.as_millis(),
            ratio(b.cpu.as_secs_f64(), a.cpu.as_secs_f64())
        );
        println!(
            "{:<24} {:>7} KB {:>7} KB {:>7}",
            "peak RSS",
            a.peak_kb,
            b.peak_kb,
            ratio(b.peak_kb as f64, a.peak_kb as f64)
        );
        println!(
            "({} and {} ready checks)",
            a.latencies.len(),
            b.latencies.len()
        );
        if lagged > 0 {
            println!(
                "warning: the simulator's readers lagged by {lagged} events: figures are not valid"
            );
        }
    }
}
