//! `switchyard-conformance --plugin PATH [--fixtures DIR] [--expectations DIR] [--filter TEXT]`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use switchyard_conformance::{default_fixtures_dir, run, RunOptions};
use switchyard_plugin_sdk::loader::load_plugin;

#[derive(Parser, Debug)]
#[command(
    name = "switchyard-conformance",
    version,
    about = "Replay recorded provider traffic against a switchyard plugin"
)]
struct Cli {
    /// The plugin file (`libswitchyard_provider_<name>.so`).
    #[arg(long)]
    plugin: PathBuf,
    /// Recorded fixtures [default: ../shared/fixtures/recorded from the current directory].
    #[arg(long)]
    fixtures: Option<PathBuf>,
    /// The plugin's expectation directory [default: conformance/expectations/<plugin name>].
    #[arg(long)]
    expectations: Option<PathBuf>,
    /// Only run cases whose name contains this text.
    #[arg(long)]
    filter: Option<String>,
    /// Random re-splits of every stream body.
    #[arg(long, default_value_t = 16)]
    random_splits: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let plugin = match load_plugin(&cli.plugin) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("switchyard-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let opts = RunOptions {
        fixtures_dir: cli.fixtures.unwrap_or_else(|| default_fixtures_dir(&root)),
        expectations_dir: cli.expectations.unwrap_or_else(|| {
            root.join("conformance/expectations")
                .join(&plugin.metadata().name)
        }),
        filter: cli.filter,
        random_splits: cli.random_splits,
    };
    match run(&plugin, &opts) {
        Ok(report) => {
            print!("{}", report.table());
            if report.failures() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("switchyard-conformance: {e}");
            ExitCode::from(2)
        }
    }
}
