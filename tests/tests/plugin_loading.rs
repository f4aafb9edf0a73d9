//! The plugin loader against real `.so` files built by cargo.

use std::path::Path;

use switchyard_e2e::plugin_file;
use switchyard_plugin_sdk::host::PluginHandle;
use switchyard_plugin_sdk::loader::{discover_plugins, load_plugin};
use switchyard_plugin_sdk::{DeploymentConfig, ErrorKind, RequestContext, ResponseHead};

fn load(lib: &str) -> PluginHandle {
    let path = plugin_file(lib);
    load_plugin(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn two_different_plugins_in_one_process_keep_their_own_metadata() {
    let mock = load("switchyard_provider_mock");
    let openai = load("switchyard_provider_openai");
    assert_eq!(mock.metadata().name, "mock");
    assert_eq!(openai.metadata().name, "openai");
    assert_eq!(mock.metadata().providers, vec!["mock"]);
    assert_eq!(openai.metadata().providers, vec!["openai"]);
    assert_eq!(
        openai.metadata().default_api_base.as_deref(),
        Some("https://api.openai.com/v1")
    );
    assert!(openai
        .metadata()
        .models
        .iter()
        .any(|m| m.id == "gpt-4o-mini"));
    for p in [&mock, &openai] {
        assert_eq!(p.metadata().abi_epoch, 1);
        assert_eq!(p.metadata().version, "0.1.0");
        assert_eq!(p.metadata().sdk_version, switchyard_plugin_sdk::SDK_VERSION);
    }
    // Loading the first again still gives the first (no per-type caching mix-up).
    assert_eq!(load("switchyard_provider_mock").metadata().name, "mock");

    // Both work through the ABI.
    let ctx = RequestContext {
        request_id: "r".into(),
        ..Default::default()
    };
    let body = br#"{"model":"x","messages":[{"role":"user","content":"ping"}]}"#;
    let m = mock
        .instantiate(&DeploymentConfig {
            model: "demo".into(),
            ..Default::default()
        })
        .unwrap();
    let req = m.build_request("chat", body, &ctx).unwrap();
    let sim = req.simulated.expect("mock simulates");
    let parsed = m
        .parse_response(
            &ResponseHead {
                status: 200,
                headers: sim.headers.clone(),
            },
            &sim.chunks[0],
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&parsed.body).contains("You said: ping"));
    let o = openai
        .instantiate(&DeploymentConfig {
            model: "gpt-4o-mini".into(),
            api_key: Some("sk-x".into()),
            ..Default::default()
        })
        .unwrap();
    let req = o.build_request("chat", body, &ctx).unwrap();
    assert_eq!(req.url, "https://api.openai.com/v1/chat/completions");
}

#[test]
fn a_panic_inside_a_plugin_is_an_error_not_an_abort() {
    let panicky = load("switchyard_testplugin_panicky");
    let p = panicky.instantiate(&DeploymentConfig::default()).unwrap();
    let ctx = RequestContext::default();
    assert!(p.build_request("chat", b"{}", &ctx).is_ok());
    for _ in 0..2 {
        let e = p
            .parse_response(
                &ResponseHead {
                    status: 200,
                    headers: vec![],
                },
                b"{}",
            )
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Internal);
        assert!(
            e.message.contains("panicked in parse_response"),
            "{}",
            e.message
        );
        assert!(e.message.contains("exploded on purpose"), "{}", e.message);
    }
    let mut decoder = p.stream_decoder(&ctx).unwrap();
    let out = decoder.feed(b"data: {}\n\n");
    assert!(out
        .error
        .unwrap()
        .message
        .contains("panicked in stream_decoder.feed"));
    let out = decoder.feed(b"data: {}\n\n");
    assert!(out.error.unwrap().message.contains("unusable"));
}

fn assert_one_line_naming(err: &str, path: &Path) {
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&path.display().to_string()),
        "names the file: {err}"
    );
}

#[test]
fn files_that_are_not_plugins_are_rejected_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("libswitchyard_provider_junk.so");
    std::fs::write(&junk, b"not an ELF file at all").unwrap();
    let err = load_plugin(&junk).unwrap_err().to_string();
    assert_one_line_naming(&err, &junk);
    assert!(err.contains("not a loadable shared library"), "{err}");

    // A real shared library without our symbol (the test plugins' neighbour: any system lib).
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file());
    if let Some(libm) = libm {
        let err = load_plugin(libm).unwrap_err().to_string();
        assert_one_line_naming(&err, libm);
        assert!(err.contains("not a switchyard plugin"), "{err}");
    }

    let missing = dir.path().join("nope.so");
    assert_one_line_naming(&load_plugin(&missing).unwrap_err().to_string(), &missing);
}

#[test]
fn a_plugin_of_another_epoch_is_rejected_with_one_line() {
    let path = plugin_file("switchyard_testplugin_future_epoch");
    let err = load_plugin(&path).unwrap_err().to_string();
    assert_one_line_naming(&err, &path);
    assert!(err.contains("epoch 2") && err.contains("epoch 1"), "{err}");
}

#[test]
fn discovery_finds_only_provider_plugin_files() {
    let dir = tempfile::tempdir().unwrap();
    let so = std::env::consts::DLL_SUFFIX;
    for name in [
        format!("libswitchyard_provider_a{so}"),
        format!("libswitchyard_provider_b{so}"),
        format!("libswitchyard_testplugin_panicky{so}"),
        format!("libother{so}"),
        "switchyard_provider_c.rlib".to_owned(),
        "README.md".to_owned(),
    ] {
        std::fs::write(dir.path().join(name), b"x").unwrap();
    }
    std::fs::create_dir(dir.path().join(format!("libswitchyard_provider_dir{so}"))).unwrap();
    let found: Vec<String> = discover_plugins(dir.path())
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        found,
        vec![
            format!("libswitchyard_provider_a{so}"),
            format!("libswitchyard_provider_b{so}")
        ]
    );
}
