//! The bench's command line: which sections run, for how long and on how
//! much mail.
//!
//! It owns the two ways the binary is started. `cargo bench` passes
//! `--bench`, which asks for the full run with the figures the performance
//! notes quote. `cargo test --all-targets` starts it without that flag: then
//! it makes a smoke run, every section on little mail for a second or so,
//! which proves the bench still works and measures nothing worth quoting.
//! It never reads the environment and never touches the network.
//!
//! Invariant: every value is bounded (seconds, sessions, messages), so any
//! run the options describe stops by itself.

use std::fmt;

/// The most sessions one throughput run may drive.
const MAX_SESSIONS: usize = 64;

/// The largest mailbox the size section may load.
const MAX_MAILBOX: usize = 200_000;

/// The longest a throughput run may last, in seconds.
const MAX_SECONDS: f64 = 120.0;

/// Flags of the libtest harness that take a value, which `cargo test` may
/// pass on to this binary too.
const HARNESS_FLAGS_WITH_VALUE: [&str; 6] = [
    "--test-threads",
    "--skip",
    "--format",
    "--color",
    "--logfile",
    "-Z",
];

/// What one start of the binary does.
#[derive(Debug, Clone)]
pub struct Options {
    /// Whether this is a full run (`--bench`) rather than a smoke run.
    pub full: bool,
    /// The sections to run, in this order.
    pub sections: Vec<Section>,
    /// Seconds each throughput run lasts after its sessions are warm.
    pub seconds: f64,
    /// Messages in the demo mailbox of each simulated person.
    pub messages: usize,
    /// Concurrent sessions of the throughput runs.
    pub sessions: Vec<usize>,
    /// Mailbox sizes of the size section.
    pub sizes: Vec<usize>,
    /// Sign-ins timed by the first-view section, and Next/Prev/Back cycles
    /// timed per mailbox by the size section; a hundred times as many
    /// session lock rounds are timed by the nodes section.
    pub samples: usize,
}

/// A part of the bench with its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Page views per second and latency at several concurrencies, pooled
    /// and login-per-request side by side.
    Throughput,
    /// The first page after sign-in and a page view on a warm session.
    FirstView,
    /// Raw IMAP time and mailfront's views on mailboxes of growing size.
    Sizes,
    /// 1, 2 and 3 node processes sharing sessions in Redis at the most
    /// sessions, and the session lock's cost on Redis and embedded.
    Nodes,
}

/// Why the command line was refused.
#[derive(Debug)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; run with --help for the options", self.0)
    }
}

impl Section {
    fn parse(word: &str) -> Result<Section, UsageError> {
        match word {
            "throughput" => Ok(Section::Throughput),
            "first-view" => Ok(Section::FirstView),
            "sizes" => Ok(Section::Sizes),
            "nodes" => Ok(Section::Nodes),
            other => Err(UsageError(format!(
                "section {other:?} unknown; use throughput, first-view, sizes or nodes"
            ))),
        }
    }
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Request {
    /// Run the bench with these options.
    Run(Options),
    /// Print the usage text and stop.
    Help,
    /// A test filter names other tests: this binary has nothing to run.
    Skip,
}

impl Options {
    /// The figures quoted in docs/PERFORMANCE.md come from these.
    fn full() -> Options {
        Options {
            full: true,
            sections: vec![
                Section::Throughput,
                Section::FirstView,
                Section::Sizes,
                Section::Nodes,
            ],
            seconds: 8.0,
            messages: 2_000,
            sessions: vec![1, 8, 32],
            sizes: vec![1_000, 10_000, 100_000],
            samples: 10,
        }
    }

    /// Little mail and short runs: enough to walk every code path.
    fn smoke() -> Options {
        Options {
            full: false,
            sections: vec![
                Section::Throughput,
                Section::FirstView,
                Section::Sizes,
                Section::Nodes,
            ],
            seconds: 1.0,
            messages: 60,
            sessions: vec![1, 2],
            sizes: vec![100],
            samples: 2,
        }
    }

    /// Reads the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Request, UsageError> {
        let args: Vec<String> = args.into_iter().collect();
        let full = args.iter().any(|a| a == "--bench");
        let mut options = if full {
            Options::full()
        } else {
            Options::smoke()
        };

        let mut rest = args.iter().filter(|a| *a != "--bench");
        while let Some(arg) = rest.next() {
            let mut value = || {
                rest.next()
                    .cloned()
                    .ok_or_else(|| UsageError(format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "-h" | "--help" => return Ok(Request::Help),
                "--seconds" => options.seconds = number(arg, &value()?, 0.1, MAX_SECONDS)?,
                "--messages" => options.messages = count(arg, &value()?, 1, MAX_MAILBOX)?,
                "--samples" => options.samples = count(arg, &value()?, 1, 1_000)?,
                "--sessions" => options.sessions = counts(arg, &value()?, MAX_SESSIONS)?,
                "--sizes" => options.sizes = counts(arg, &value()?, MAX_MAILBOX)?,
                "--sections" => {
                    options.sections = value()?
                        .split(',')
                        .map(Section::parse)
                        .collect::<Result<_, _>>()?;
                }
                // Under `cargo test`, a bare word is a test name filter.
                word if !full && !word.starts_with('-') => {
                    if !"paging_bench_smoke_run".contains(word) {
                        return Ok(Request::Skip);
                    }
                }
                // Test harness flags mean nothing here; skip their values too.
                flag if !full => {
                    if HARNESS_FLAGS_WITH_VALUE.contains(&flag) {
                        rest.next();
                    }
                }
                other => return Err(UsageError(format!("argument {other:?} not understood"))),
            }
        }
        Ok(Request::Run(options))
    }

    /// The most sessions any throughput run drives.
    pub fn max_sessions(&self) -> usize {
        self.sessions.iter().copied().max().unwrap_or(1)
    }

    /// Whether a section is asked for.
    pub fn runs(&self, section: Section) -> bool {
        self.sections.contains(&section)
    }
}

/// The usage text printed by `--help`.
pub const USAGE: &str = "\
usage: cargo bench -p mailfront --bench paging -- [options]   (or scripts/bench [options])

Pages through a demo mailbox of real mail in a private Dovecot on 127.0.0.1
and prints markdown tables. Without --bench (as under cargo test) it makes a
short smoke run on little mail instead.

options:
  --sections LIST   throughput,first-view,sizes,nodes (default: all four)
  --seconds N       seconds of each throughput and nodes run (default 8)
  --messages N      messages in each simulated person's INBOX (default 2000)
  --sessions LIST   concurrent sessions of the throughput runs (default 1,8,32);
                    the nodes runs use the largest
  --sizes LIST      mailbox sizes of the size section (default 1000,10000,100000)
  --samples N       sign-ins timed, and Next/Prev/Back cycles per size (default 10);
                    session lock rounds timed: a hundred times as many
";

fn number(flag: &str, text: &str, low: f64, high: f64) -> Result<f64, UsageError> {
    match text.parse::<f64>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(UsageError(format!(
            "{flag} {text:?} is not a number from {low} to {high}"
        ))),
    }
}

fn count(flag: &str, text: &str, low: usize, high: usize) -> Result<usize, UsageError> {
    match text.replace('_', "").parse::<usize>() {
        Ok(n) if (low..=high).contains(&n) => Ok(n),
        _ => Err(UsageError(format!(
            "{flag} {text:?} is not a whole number from {low} to {high}"
        ))),
    }
}

fn counts(flag: &str, text: &str, high: usize) -> Result<Vec<usize>, UsageError> {
    text.split(',').map(|n| count(flag, n, 1, high)).collect()
}
