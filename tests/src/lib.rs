//! Harness of the end-to-end tests: where cargo put the `switchyard` binary and the plugin
//! files, a process wrapper for the gateway, and an in-test upstream.
//!
//! The tests use the artifacts of the same cargo profile they were built with. `./scripts/test`
//! runs `cargo build --workspace` first, so the binary and every plugin `.so` exist; a plain
//! `cargo test --workspace` builds them too (cargo builds a workspace member's `cdylib` and
//! binaries along with its tests), and a missing file is reported with the command that makes it.

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
