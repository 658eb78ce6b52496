//! The `mailfront` command.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mailfront::config::{Settings, SettingsLayer};
use tracing_subscriber::EnvFilter;

/// mailfront: a webmail front for IMAP servers
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the webmail
    Serve {
        /// TOML file with settings; its keys are the long option names
        #[arg(long, env = "MAILFRONT_CONFIG")]
        config: Option<PathBuf>,

        #[command(flatten)]
        settings: SettingsLayer,
    },
}

fn main() -> std::process::ExitCode {
    // html5ever reports parse recoveries (hostile mail is full of them) as
    // warnings; they say nothing an operator can act on.
    let filter = EnvFilter::try_from_env("MAILFRONT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,html5ever=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();

    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mailfront: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let Command::Serve { config, settings } = Cli::parse().command;
    let file_layer = match config {
        Some(path) => SettingsLayer::from_toml_file(&path)?,
        None => SettingsLayer::default(),
    };
    let settings = Settings::resolve(settings.over(file_layer))?;

    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let mut server = mailfront::server::start(settings).await?;
        let address = server.address;
        tracing::info!(%address, "mailfront serving");
        shutdown_signal().await;
        tracing::info!("shutting down");
        server.trigger_shutdown();
        server.wait().await
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler can be installed");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
