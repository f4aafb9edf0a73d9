//! `switchyard`: the LLM gateway binary.

mod logging;
mod plugins;
mod server;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use switchyard_core::{Config, Environment, Gateway, LoadedConfig};
use switchyard_plugin_sdk::host::PluginHandle;

// glibc's malloc was a fifth of the gateway's instructions per request in callgrind profiles
// (about 150 allocations a request across hyper, serde and the log line); mimalloc's thread-local
// free lists cost a fraction of that. Plugins keep their own allocator: values crossing the ABI
// are freed through their own vtables (abi_stable), never by the host's allocator. Built without
// transparent huge pages: a 2 MiB page per arena touched put 28 MB more in an idle gateway's RSS.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Port LiteLLM's proxy listens on by default; kept so migrating clients need no change.
const DEFAULT_PORT: u16 = 4000;

/// `examples/quickstart.yaml`, served when no config is given.
const QUICKSTART_CONFIG: &str = include_str!("../../examples/quickstart.yaml");

#[derive(Parser, Debug)]
#[command(
    name = "switchyard",
    version,
    about = "An OpenAI-compatible LLM gateway with provider plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway.
    Serve {
        /// LiteLLM-style config.yaml [default: the embedded quickstart, on the mock provider].
        #[arg(long, short = 'c', env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Directory of provider plugins [default: config's switchyard.plugin_dir, else the
        /// directory of this executable].
        #[arg(long, env = "SWITCHYARD_PLUGIN_DIR")]
        plugin_dir: Option<PathBuf>,
        /// Address to listen on [default: config's switchyard.host, else 0.0.0.0].
        #[arg(long)]
        host: Option<String>,
        /// Port to listen on; 0 picks a free one [default: config's switchyard.port, else 4000].
        #[arg(long, short = 'p')]
        port: Option<u16>,
    },
    /// Inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Validate a config file (and that loaded plugins serve its models) without serving.
    CheckConfig {
        config: PathBuf,
        #[arg(long, env = "SWITCHYARD_PLUGIN_DIR")]
        plugin_dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum PluginsCommand {
    /// List the plugins in the plugin directory: name, version, ABI epoch, providers, models.
    List {
        #[arg(long, env = "SWITCHYARD_PLUGIN_DIR")]
        plugin_dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            plugin_dir,
            host,
            port,
        } => serve(config, plugin_dir, host, port),
        Command::Plugins {
            command: PluginsCommand::List { plugin_dir },
        } => list_plugins(plugin_dir),
        Command::CheckConfig { config, plugin_dir } => check_config(config, plugin_dir),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("switchyard: error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: &Path) -> Result<LoadedConfig, String> {
    Config::load(path).map_err(|e| e.to_string())
}

fn load_config_or_quickstart(path: Option<&PathBuf>) -> Result<LoadedConfig, String> {
    match path {
        Some(path) => load_config(path),
        None => Config::from_yaml_str(
            QUICKSTART_CONFIG,
            "<embedded quickstart>",
            &Environment::from_process(),
        )
        .map_err(|e| e.to_string()),
    }
}

fn load_plugins(dir: &std::path::Path) -> Result<Vec<PluginHandle>, String> {
    let plugins = plugins::load_plugin_dir(dir)?;
    for p in &plugins {
        let m = p.metadata();
        tracing::info!(
            "loaded plugin {} {} (ABI {}, sdk {}) serving {} from {}",
            m.name,
            m.version,
            m.abi_epoch,
            m.sdk_version,
            m.providers.join(", "),
            p.origin()
        );
    }
    Ok(plugins)
}

fn build_gateway(
    config: Config,
    plugins: Vec<PluginHandle>,
    metrics: Option<switchyard_core::MetricsRenderer>,
    config_path: Option<&Path>,
) -> Result<Gateway, String> {
    let mut builder = Gateway::builder(config);
    if let Some(path) = config_path {
        builder = builder.config_path(path);
    }
    for p in plugins {
        builder = builder.plugin(p)?;
    }
    if let Some(render) = metrics {
        builder = builder.metrics_renderer(render);
    }
    let (gateway, warnings) = builder.build()?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(gateway)
}

fn serve(
    config_path: Option<PathBuf>,
    plugin_dir: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
) -> Result<(), String> {
    let started = Instant::now();
    // Read the config before logging starts: its switchyard.log_format picks the format.
    let loaded = load_config_or_quickstart(config_path.as_ref())?;
    let _log_writer = logging::init(loaded.config.switchyard.log_format.as_deref());
    if config_path.is_none() {
        tracing::info!("no --config given: serving the embedded quickstart (mock provider)");
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }

    let config = loaded.config;
    let dir = plugins::resolve_plugin_dir(plugin_dir, config.switchyard.plugin_dir.clone());
    let plugins = load_plugins(&dir)?;

    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".to_owned()),
            switchyard_core::metrics::DURATION_BUCKETS,
        )
        .map_err(|e| format!("metrics setup: {e}"))?
        .build_recorder();
    let handle = recorder.handle();
    let upkeep = handle.clone();
    metrics::set_global_recorder(recorder).map_err(|e| format!("metrics setup: {e}"))?;
    switchyard_core::metrics::describe();
    let render: switchyard_core::MetricsRenderer = Arc::new(move || handle.render());

    let host = host
        .or_else(|| config.switchyard.host.clone())
        .unwrap_or_else(|| "0.0.0.0".into());
    let port = port.or(config.switchyard.port).unwrap_or(DEFAULT_PORT);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    // The shared state's background tasks start with the gateway, on this runtime.
    let gateway = {
        let _inside = runtime.enter();
        build_gateway(config, plugins, Some(render), config_path.as_deref())?
    };
    runtime.block_on(async move {
        let listener = server::bind(&host, port).await?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!(
            "switchyard {} ready on http://{addr} in {:.1} ms",
            env!("CARGO_PKG_VERSION"),
            started.elapsed().as_secs_f64() * 1000.0
        );
        // A plain line on stdout that scripts (and the test suite) can wait for.
        println!("switchyard listening on http://{addr}");
        // The database opens (and migrates) while the server already answers liveness.
        let tenancy = gateway.clone();
        tokio::spawn(async move {
            // A database that is not up yet (a pod starting beside it) is retried, not fatal.
            while let Err(e) = tenancy.start_tenancy().await {
                tracing::error!(
                    "tenancy database unavailable: {e}; virtual keys and admin routes answer \
                     503; retrying in 5 s"
                );
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        });
        tokio::spawn(metrics_upkeep(upkeep));
        #[cfg(unix)]
        tokio::spawn(reload_on_sighup(gateway.clone()));
        let served = server::serve(listener, gateway.clone()).await;
        // Spend logs of the last requests reach the database before the process exits.
        gateway.flush().await;
        served.map_err(|e| e.to_string())
    })
}

/// How often histogram samples are folded into their buckets.
const METRICS_UPKEEP: std::time::Duration = std::time::Duration::from_secs(5);

/// The recorder keeps each histogram sample until something folds it into the buckets: a scrape
/// of `/metrics`, or this. Without it, a gateway nobody scraped kept every sample of every request
/// (~50 bytes a request: the benchmark's 10-minute soak grew from 109 to 452 MB).
async fn metrics_upkeep(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(METRICS_UPKEEP);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

/// `kill -HUP`: the config file is read again and swapped in (see `Gateway::reload`); a bad
/// file is logged and the running config stays.
#[cfg(unix)]
async fn reload_on_sighup(gateway: Gateway) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        return;
    };
    while hangups.recv().await.is_some() {
        match gateway.reload_from_file().await {
            Ok(warnings) => {
                for w in warnings {
                    tracing::warn!("{w}");
                }
            }
            Err(e) => tracing::error!("SIGHUP: config not reloaded (the running one stays): {e}"),
        }
    }
}

fn list_plugins(plugin_dir: Option<PathBuf>) -> Result<(), String> {
    let dir = plugins::resolve_plugin_dir(plugin_dir, None);
    let plugins = plugins::load_plugin_dir(&dir)?;
    println!(
        "{:<16} {:<10} {:<4} {:<28} {:<6} FILE",
        "NAME", "VERSION", "ABI", "PROVIDERS", "MODELS"
    );
    for p in &plugins {
        let m = p.metadata();
        println!(
            "{:<16} {:<10} {:<4} {:<28} {:<6} {}",
            m.name,
            m.version,
            m.abi_epoch,
            m.providers.join(","),
            m.models.len(),
            p.origin()
        );
    }
    Ok(())
}

fn check_config(config_path: PathBuf, plugin_dir: Option<PathBuf>) -> Result<(), String> {
    let loaded = load_config(&config_path)?;
    for w in &loaded.warnings {
        println!("warning: {w}");
    }
    let dir = plugins::resolve_plugin_dir(plugin_dir, loaded.config.switchyard.plugin_dir.clone());
    let plugins = plugins::load_plugin_dir(&dir)?;
    let groups = loaded
        .config
        .model_list
        .iter()
        .map(|m| &m.model_name)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let deployments = loaded.config.model_list.len();
    let mut builder = Gateway::builder(loaded.config);
    for p in plugins {
        builder = builder.plugin(p)?;
    }
    // A config with a shared state starts its (idle) background tasks on a runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let _inside = runtime.enter();
    let (_gateway, warnings) = builder.build()?;
    for w in warnings {
        println!("warning: {w}");
    }
    println!(
        "{}: OK ({groups} model groups, {deployments} deployments)",
        config_path.display()
    );
    Ok(())
}
