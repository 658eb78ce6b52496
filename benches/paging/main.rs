//! The paging bench: mailfront in front of a private Dovecot holding a demo
//! mailbox of real mail, browsed by simulated people, with the figures
//! printed as markdown tables on stdout (progress goes to stderr).
//!
//! It owns the order of the sections and the report's heading, which names
//! the date, the command, the commit and the machine, because absolute
//! figures drift on a shared machine and only ratios measured in one run
//! are worth quoting. Each section has its own module and function:
//! [`throughput`], [`first_view`], [`sizes`]. Every server involved listens
//! on 127.0.0.1 only; the Dovecot instance is stopped when the bench ends.
//!
//! Started by `cargo bench` (with `--bench`) it makes the full run. Started
//! by `cargo test --all-targets` it makes a smoke run on little mail, which
//! fails when a page view fails but never on a time. Without Dovecot it
//! prints why and stops, unless `CI` is set, in which case it fails.

#[path = "../../tests/app/mod.rs"]
mod app;
mod browse;
mod counters;
mod demo;
mod first_view;
mod heap;
mod lock_cost;
mod nodes;
mod options;
mod several_nodes;
mod sizes;
mod stats;
#[path = "../../tests/support/mod.rs"]
mod support;
mod table;
mod throughput;

use std::process::{Command, ExitCode};

#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

use demo::{Account, MailSource};
use options::{Options, Request, Section, USAGE};
use support::Dovecot;

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(Request::Run(options)) => options,
        Ok(Request::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Request::Skip) => return ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("paging bench: {error}");
            return ExitCode::FAILURE;
        }
    };

    // Prints why (or panics under CI) when Dovecot is not installed.
    let Some(dovecot) = Dovecot::start_private(10) else {
        return ExitCode::SUCCESS;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");

    match run(&dovecot, &runtime, &options) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("paging bench failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the sections asked for and returns the whole report.
fn run(
    dovecot: &Dovecot,
    runtime: &tokio::runtime::Runtime,
    options: &Options,
) -> Result<String, String> {
    let source = MailSource::find();
    let mut report = heading(options, &source);

    let many = options.runs(Section::Throughput) || options.runs(Section::Nodes);
    let people = match (many, options.runs(Section::FirstView)) {
        (true, _) => options.max_sessions(),
        (false, true) => 1,
        (false, false) => 0,
    };
    let mut accounts: Vec<Account> = Vec::new();
    if people > 0 {
        eprintln!(
            "demo mail: {people} accounts of {} messages each",
            options.messages
        );
        let (loaded, took) =
            demo::accounts_with_mail(dovecot, &source, "demo", people, options.messages)?;
        report.push_str(&format!(
            "Demo mailbox: INBOX of {} messages for each of {people} accounts \
             (loaded in {:.0} s).\n\n",
            loaded[0].messages,
            took.as_secs_f64()
        ));
        accounts = loaded;
    }

    if options.runs(Section::Throughput) {
        let runs = runtime.block_on(throughput::measure(
            dovecot,
            &accounts,
            &options.sessions,
            options.seconds,
        ))?;
        if !options.full {
            smoke_check(runs.iter().map(|r| (r.walked.views.len(), r.walked.errors)))?;
        }
        report.push_str(&throughput::report(&runs, options.seconds));
        report.push('\n');
    }

    if options.runs(Section::FirstView) {
        let account = &accounts[0];
        let visits = runtime.block_on(first_view::measure(dovecot, account, options.samples))?;
        if !options.full {
            smoke_check(visits.iter().map(|v| (v.warm.views.len(), v.warm.errors)))?;
        }
        report.push_str(&first_view::report(&visits, account));
        report.push('\n');
    }

    if options.runs(Section::Sizes) {
        let runs = runtime.block_on(sizes::measure(
            dovecot,
            &source,
            &options.sizes,
            options.samples,
        ))?;
        report.push_str(&sizes::report(runs.as_deref(), options.samples));
        report.push('\n');
    }

    if options.runs(Section::Nodes) {
        let runs = runtime.block_on(several_nodes::measure(dovecot, &accounts, options.seconds))?;
        if !options.full {
            smoke_check(runs.iter().map(|r| (r.walked.views.len(), r.walked.errors)))?;
        }
        report.push_str(&several_nodes::report(&runs, options.seconds));
        report.push('\n');
        let costs = runtime.block_on(lock_cost::measure(options.samples * 100))?;
        report.push_str(&lock_cost::report(&costs));
    }

    report.push_str(&format!("\nMachine load at the end: {}\n", load_average()));
    Ok(report)
}

/// Fails a smoke run in which no page view succeeded or one failed.
fn smoke_check(outcomes: impl Iterator<Item = (usize, u64)>) -> Result<(), String> {
    for (views, errors) in outcomes {
        if views == 0 || errors > 0 {
            return Err(format!(
                "smoke run: {views} page views answered and {errors} failed; \
                 every page view should answer 200"
            ));
        }
    }
    Ok(())
}

/// The report's heading: which run produced the figures.
fn heading(options: &Options, source: &MailSource) -> String {
    let kind = match options.full {
        true => "full run",
        false => "smoke run (cargo test): figures not worth quoting",
    };
    let arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let command = match arguments.is_empty() {
        true => "scripts/bench".to_owned(),
        false => format!("scripts/bench {}", arguments.join(" ")),
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    format!(
        "## mailfront paging bench, {kind}\n\n\
         - date: {}\n\
         - command: `{command}`\n\
         - commit: {}\n\
         - machine: {cores} cores, load average at the start {}; Dovecot {} \
           (Maildir, private instance on 127.0.0.1)\n\
         - mail: {}\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        output_of("git", &["rev-parse", "--short", "HEAD"]),
        load_average(),
        output_of("dovecot", &["--version"]),
        source.describe()
    )
}

/// The first line a program prints, or `?`.
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(support::workspace_root())
        .output()
        .ok()
        .and_then(|out| {
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.lines().next().map(str::to_owned)
        })
        .unwrap_or_else(|| "?".to_owned())
}

/// The 1, 5 and 15 minute load averages of the machine.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "?".to_owned())
}
