//! Harness of the end-to-end tests: where cargo put the `switchyard` binary and the plugin
//! files, a process wrapper for the gateway, and an in-test upstream.
//!
//! The tests use the artifacts of the same cargo profile they were built with. `./scripts/test`
//! runs `cargo build --workspace` first, so the binary and every plugin `.so` exist; a plain
//! `cargo test --workspace` builds them too (cargo builds a workspace member's `cdylib` and
//! binaries along with its tests), and a missing file is reported with the command that makes it.

pub mod fleet;
pub mod process;
pub mod upstream;

use std::path::PathBuf;

/// An HTTP client for talking to the gateway (loopback, plain HTTP).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// `target/<profile>`: the directory of the running test binary's parent (`deps/`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    dir.to_path_buf()
}

fn require(path: PathBuf, package: &str) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p {package}` (or run ./scripts/test)",
        path.display()
    );
    path
}

/// `lib<name>.so` (`.dylib`, `.dll`): the platform's file name of a plugin library.
pub fn plugin_file_name(lib_name: &str) -> String {
    format!(
        "{}{lib_name}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    )
}

/// The plugin file of a crate (`switchyard_provider_mock` → `target/debug/libswitchyard_provider_mock.so`).
pub fn plugin_file(lib_name: &str) -> PathBuf {
    require(
        target_dir().join(plugin_file_name(lib_name)),
        &lib_name.replace('_', "-"),
    )
}

/// The `switchyard` binary.
pub fn switchyard_bin() -> PathBuf {
    require(
        target_dir().join(format!("switchyard{}", std::env::consts::EXE_SUFFIX)),
        "switchyard-host",
    )
}

/// The databases to run tenancy tests on: a fresh SQLite file (`None`: the gateway's default),
/// and a fresh PostgreSQL database when the test script started a server
/// (`SWITCHYARD_TEST_DATABASE_URL`, see `scripts/postgres`).
pub fn test_databases() -> Vec<Option<String>> {
    let mut out = vec![None];
    if let Ok(url) = std::env::var("SWITCHYARD_TEST_DATABASE_URL") {
        out.push(Some(fresh_postgres_database(&url)));
    }
    out
}

/// Creates a new, empty database next to the one `url` names and returns its URL.
pub fn fresh_postgres_database(url: &str) -> String {
    let (base, _) = url.rsplit_once('/').expect("database url");
    let name = format!("sy_{:016x}", rand_u64());
    let psql = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            versions
                .filter_map(|v| Some(v.ok()?.path().join("bin/psql")))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from("psql"));
    let out = std::process::Command::new(psql)
        .arg(url)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{base}/{name}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
