//! Writes `catalog/data/catalog.json` from LiteLLM's `model_prices_and_context_window.json`.
//!
//! ```text
//! cargo run -p switchyard-catalog --bin generate-catalog -- \
//!     ../shared/data/model_prices_and_context_window.json [--out PATH] [--source-version V] [--check]
//! ```
//!
//! `--check` writes nothing and fails when the committed file differs.

use std::process::ExitCode;

const USAGE: &str = "usage: generate-catalog <model_prices_and_context_window.json> \
    [--out PATH] [--source-version VERSION] [--check]";

fn main() -> ExitCode {
    let mut source = None;
    let mut out = concat!(env!("CARGO_MANIFEST_DIR"), "/data/catalog.json").to_owned();
    let mut version = None;
    let mut check = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => match args.next() {
                Some(path) => out = path,
                None => return fail(USAGE),
            },
            "--source-version" => match args.next() {
                Some(v) => version = Some(v),
                None => return fail(USAGE),
            },
            "--check" => check = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if source.is_none() && !arg.starts_with('-') => source = Some(arg),
            _ => return fail(USAGE),
        }
    }
    let Some(source) = source else {
        return fail(USAGE);
    };
    let text = match std::fs::read_to_string(&source) {
        Ok(text) => text,
        Err(e) => return fail(&format!("{source}: {e}")),
    };
    let generated = match switchyard_catalog::generate::generate(&text, version.as_deref()) {
        Ok(g) => g,
        Err(e) => return fail(&format!("{source}: {e}")),
    };
    let summary = format!(
        "{} models from LiteLLM {} ({} entries left out, {} prices rounded to the picodollar)",
        generated.models, generated.source_version, generated.skipped, generated.rounded_prices
    );
    if check {
        return match std::fs::read_to_string(&out) {
            Ok(current) if current == generated.text => {
                println!("{out} is up to date: {summary}");
                ExitCode::SUCCESS
            }
            _ => fail(&format!("{out} is stale: run without --check")),
        };
    }
    if let Err(e) = std::fs::write(&out, &generated.text) {
        return fail(&format!("{out}: {e}"));
    }
    println!("wrote {out}: {summary}, {} bytes", generated.text.len());
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("generate-catalog: {message}");
    ExitCode::FAILURE
}
