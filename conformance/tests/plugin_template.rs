//! `examples/plugin-template` builds outside the workspace with nothing but the SDK, the host
//! loads it, and it passes the conformance suite on its own fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

use switchyard_conformance::{run, RunOptions};
use switchyard_e2e::process::run_switchyard;
use switchyard_e2e::{plugin_file_name, target_dir};
use switchyard_plugin_sdk::loader::load_plugin;

fn template_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugin-template")
}

/// Builds the template in its own target directory (its own cargo lock, so this works while
/// the outer `cargo test` holds the workspace's).
fn build_template() -> PathBuf {
    let out = target_dir().join("../plugin-template");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(template_dir().join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &out)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building examples/plugin-template failed");
    out.join("debug")
        .join(plugin_file_name("switchyard_provider_acme"))
}

#[test]
fn the_template_builds_alone_loads_in_the_host_and_passes_its_suite() {
    let plugin_path = build_template();
    let dir = plugin_path.parent().unwrap();

    let out = run_switchyard(&["plugins", "list", "--plugin-dir", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("acme ") && l.contains(" 1 ")),
        "{listing}"
    );

    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        config.path(),
        "model_list:\n  - model_name: a\n    litellm_params: {model: acme/acme-1, api_key: k}\n",
    )
    .unwrap();
    let out = run_switchyard(&[
        "check-config",
        config.path().to_str().unwrap(),
        "--plugin-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let plugin = load_plugin(&plugin_path).unwrap_or_else(|e| panic!("{e}"));
    let report = run(
        &plugin,
        &RunOptions {
            fixtures_dir: template_dir().join("fixtures"),
            expectations_dir: template_dir().join("conformance"),
            filter: None,
            random_splits: 16,
        },
    )
    .unwrap();
    println!("{}", report.table());
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(report.covered["acme"], 3);
}
