//! Section 4 (`nodes`): page views per second and their latency with the
//! same sessions served by 1, 2 and 3 `mailfront serve` processes that
//! share their sessions in one Redis, beside one process with the embedded
//! store; and where the machine's CPU went meanwhile.
//!
//! It owns these runs. Each configuration gets fresh nodes (real processes,
//! as a deployment runs them, not nodes in the bench's own runtime) and a
//! Redis key prefix of its own. Every session signs in on one node and then
//! sends each page view to the next node in turn, like a proxy without
//! sticky sessions, so from two nodes on no two consecutive requests of a
//! session meet the same node. CPU time is read from `/proc` around the
//! timed stretch: the machine's busy share, the nodes' and Redis's own
//! seconds; what remains is mostly Dovecot and the bench's own clients.
//!
//! The load of a shared machine drifts within minutes, so the layouts run in
//! two passes, the second in reverse order (A B C D D C B A): a drift then
//! favours no layout, and the two figures of a layout show how far one run
//! can be trusted. Before them, a run of the first layout is not reported:
//! right after the mail is loaded, Dovecot's indexes and the page cache are
//! cold, which would bill whichever layout comes first.
//!
//! Invariant: every run ends at its deadline, and every process it starts
//! is killed by its PID when the run ends.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::app::node_process::NodeProcess;
use crate::browse::{Session, Walked};
use crate::counters::Counters;
use crate::demo::Account;
use crate::stats::{fixed, ms, rate};
use crate::support::{scratch_dir, Dovecot, Redis};
use crate::table::Table;
use crate::throughput::walk_all;

/// The untimed walk before the clock starts, as a share of the timed one.
const WARM_UP_SHARE: f64 = 0.25;

/// Where a configuration keeps its sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Embedded,
    Redis,
}

/// One measured configuration: a store and a number of nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub store: Store,
    pub nodes: usize,
}

impl Layout {
    /// One embedded node, then one, two and three nodes on Redis.
    pub const ALL: [Layout; 4] = [
        Layout {
            store: Store::Embedded,
            nodes: 1,
        },
        Layout {
            store: Store::Redis,
            nodes: 1,
        },
        Layout {
            store: Store::Redis,
            nodes: 2,
        },
        Layout {
            store: Store::Redis,
            nodes: 3,
        },
    ];

    fn describe(self) -> String {
        match self.store {
            Store::Embedded => "embedded".to_owned(),
            Store::Redis => "redis".to_owned(),
        }
    }
}

/// CPU seconds spent during the timed stretch.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    /// Busy share of every core of the machine, 0 to 1.
    pub machine_busy: f64,
    /// All mailfront nodes together.
    pub nodes: f64,
    /// The Redis server.
    pub redis: f64,
}

/// The outcome of one timed run.
pub struct Run {
    pub layout: Layout,
    /// 1 for the first pass over the layouts, 2 for the reversed one.
    pub pass: usize,
    pub sessions: usize,
    pub walked: Walked,
    pub elapsed: Duration,
    /// Every node's counters over the timed stretch, added up.
    pub counters: Counters,
    pub cpu: CpuUse,
}

impl Run {
    fn views_per_second(&self) -> f64 {
        self.walked.views.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Every layout with one session per account; none when Redis is not
/// installed (outside CI, where that fails).
pub async fn measure(
    dovecot: &Dovecot,
    accounts: &[Account],
    seconds: f64,
) -> Result<Vec<Run>, String> {
    let dir = scratch_dir("bench-nodes");
    let Some(redis) = Redis::start(&dir.join("redis")) else {
        return Ok(Vec::new());
    };
    eprintln!("nodes: an unreported run to warm Dovecot up");
    let warm_up = Layout::ALL[0];
    run(
        dovecot,
        &redis,
        &dir.join("warm-up"),
        accounts,
        warm_up,
        seconds,
    )
    .await?;

    let first_pass = Layout::ALL.into_iter().map(|layout| (1, layout));
    let second_pass = Layout::ALL.into_iter().rev().map(|layout| (2, layout));
    let mut runs = Vec::new();
    for (n, (pass, layout)) in first_pass.chain(second_pass).enumerate() {
        eprintln!(
            "nodes: pass {pass}, {} sessions on {} node(s), {}",
            accounts.len(),
            layout.nodes,
            layout.describe()
        );
        let run_dir = dir.join(format!("run{n}"));
        let mut done = run(dovecot, &redis, &run_dir, accounts, layout, seconds).await?;
        done.pass = pass;
        runs.push(done);
    }
    let order = |run: &Run| Layout::ALL.iter().position(|l| *l == run.layout);
    runs.sort_by_key(|run| (order(run), run.pass));
    Ok(runs)
}

/// The flags of the nodes of one layout.
fn flags(
    dovecot: &Dovecot,
    redis: &Redis,
    dir: &Path,
    n: usize,
    layout: Layout,
) -> Vec<(String, String)> {
    let mut flags = vec![
        (
            "--imap-server".to_owned(),
            format!("imap+insecure://127.0.0.1:{}", dovecot.imap_port),
        ),
        (
            "--data-dir".to_owned(),
            dir.join(format!("node{n}-data")).display().to_string(),
        ),
    ];
    if layout.store == Store::Redis {
        flags.push(("--session-store".to_owned(), "redis".to_owned()));
        flags.push(("--redis-url".to_owned(), redis.url()));
        let prefix = format!("bench-{}-nodes:", layout.nodes);
        flags.push(("--redis-key-prefix".to_owned(), prefix));
    }
    flags
}

/// One run: fresh nodes, one session per account, `seconds` of walking.
async fn run(
    dovecot: &Dovecot,
    redis: &Redis,
    dir: &Path,
    accounts: &[Account],
    layout: Layout,
    seconds: f64,
) -> Result<Run, String> {
    let mut nodes = Vec::new();
    for n in 1..=layout.nodes {
        let flags = flags(dovecot, redis, dir, n, layout);
        let dir = dir.to_owned();
        let node = tokio::task::spawn_blocking(move || {
            NodeProcess::start(&format!("node{n}"), &dir, &flags)
        })
        .await
        .map_err(|e| format!("a node did not start; {e}"))?;
        nodes.push(node);
    }
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();

    let mut sessions = Vec::with_capacity(accounts.len());
    for (i, account) in accounts.iter().enumerate() {
        let base = &bases[i % bases.len()];
        let (mut session, _) = Session::sign_in(base, &account.user, &account.password).await?;
        session.spread_over(bases.clone());
        sessions.push(session);
    }

    let warm_up = Duration::from_secs_f64(seconds * WARM_UP_SHARE);
    let (sessions, walked) = walk_all(sessions, warm_up).await?;
    if let Some(error) = walked.first_error {
        return Err(format!("a page view before the timed run failed; {error}"));
    }

    let pids: Vec<u32> = nodes.iter().filter_map(NodeProcess::pid).collect();
    let redis_pid = redis.pid();
    let before = read_counters(&bases).await?;
    let cpu_before = CpuSnapshot::take(&pids, redis_pid);
    let started = Instant::now();
    let (_, walked) = walk_all(sessions, Duration::from_secs_f64(seconds)).await?;
    let elapsed = started.elapsed();
    let cpu = CpuSnapshot::take(&pids, redis_pid).since(&cpu_before);
    let counters = read_counters(&bases).await?.since(&before);

    drop(nodes);
    Ok(Run {
        layout,
        pass: 1,
        sessions: accounts.len(),
        walked,
        elapsed,
        counters,
        cpu,
    })
}

/// The counters of every node, added up (gauges too).
async fn read_counters(bases: &[String]) -> Result<Counters, String> {
    let mut total = Counters::default();
    for base in bases {
        let counters = Counters::read(&crate::app::Browser::new(base)).await?;
        total.logins += counters.logins;
        total.page_views += counters.page_views;
        total.commands += counters.commands;
        total.reconnects += counters.reconnects;
        total.connections_open += counters.connections_open;
        total.validity_checks = match (total.validity_checks, counters.validity_checks) {
            (Some(a), Some(b)) => Some(a + b),
            (None, b) => b,
            (a, None) => a,
        };
    }
    Ok(total)
}

/// CPU counters of the machine and of some processes at one moment.
struct CpuSnapshot {
    /// Jiffies of all cores: (busy, total).
    machine: (u64, u64),
    /// Jiffies of the node processes together.
    nodes: u64,
    redis: u64,
}

impl CpuSnapshot {
    fn take(nodes: &[u32], redis: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            machine: machine_jiffies(),
            nodes: nodes.iter().map(|pid| process_jiffies(*pid)).sum(),
            redis: redis.map_or(0, process_jiffies),
        }
    }

    fn since(&self, earlier: &CpuSnapshot) -> CpuUse {
        let busy = self.machine.0.saturating_sub(earlier.machine.0);
        let total = self.machine.1.saturating_sub(earlier.machine.1);
        CpuUse {
            machine_busy: if total == 0 {
                0.0
            } else {
                busy as f64 / total as f64
            },
            nodes: seconds_of(self.nodes.saturating_sub(earlier.nodes)),
            redis: seconds_of(self.redis.saturating_sub(earlier.redis)),
        }
    }
}

/// Kernel clock ticks per second, as `/proc` counts them on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

fn seconds_of(jiffies: u64) -> f64 {
    jiffies as f64 / TICKS_PER_SECOND
}

/// (busy, total) jiffies of all cores from `/proc/stat`; zeros elsewhere.
fn machine_jiffies() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|line| line.starts_with("cpu ")) else {
        return (0, 0);
    };
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().take(8).sum();
    // idle and iowait are the fourth and fifth values.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// User and system jiffies of one process from `/proc/<pid>/stat`.
fn process_jiffies(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; the fields after its ')' are fixed.
    let Some((_, after)) = text.rsplit_once(')') else {
        return 0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15, the 12th and 13th after ')'.
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// The section's table.
pub fn report(runs: &[Run], seconds: f64) -> String {
    let mut table = Table::new(&[
        "session store",
        ">nodes",
        ">pass",
        ">sessions",
        ">page views",
        ">views/s",
        ">median ms",
        ">p99 ms",
        ">errors",
        ">IMAP logins / 1,000 views",
        ">IMAP commands / view",
        ">machine CPU busy",
        ">nodes' CPU s",
        ">Redis CPU s",
    ]);
    for run in runs {
        table.row(vec![
            run.layout.describe(),
            run.layout.nodes.to_string(),
            run.pass.to_string(),
            run.sessions.to_string(),
            run.walked.views.len().to_string(),
            format!("{:.0}", run.views_per_second()),
            ms(run.walked.views.median()),
            ms(run.walked.views.p99()),
            run.walked.errors.to_string(),
            fixed(
                rate(run.counters.logins, run.walked.views.len() as u64, 1000.0),
                1,
            ),
            fixed(
                rate(run.counters.commands, run.walked.views.len() as u64, 1.0),
                1,
            ),
            format!("{:.0} %", run.cpu.machine_busy * 100.0),
            format!("{:.1}", run.cpu.nodes),
            format!("{:.1}", run.cpu.redis),
        ]);
    }

    if runs.is_empty() {
        return "### Several nodes\n\nNot measured: redis-server is not installed.\n".to_owned();
    }
    let mut out = format!(
        "### Several nodes ({seconds} s per run, each session's page views sent to the \
         nodes in turn, nodes as separate processes, two passes in opposite orders)\n\n{}\n",
        table.render()
    );
    for run in runs.iter().filter(|r| r.walked.errors > 0) {
        out.push_str(&format!(
            "- {} x{}: {} failed requests, the first: {}\n",
            run.layout.describe(),
            run.layout.nodes,
            run.walked.errors,
            run.walked.first_error.as_deref().unwrap_or("?")
        ));
    }
    out
}
