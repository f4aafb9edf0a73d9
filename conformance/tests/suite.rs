//! `cargo test` runs the conformance suite over every provider plugin in `providers/`, through
//! the built plugin files and the host's loader.

use std::path::{Path, PathBuf};

use switchyard_conformance::{default_fixtures_dir, run, Report, RunOptions};
use switchyard_e2e::plugin_file;
use switchyard_plugin_sdk::loader::load_plugin;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn suite(lib: &str, expectations: &str) -> Report {
    let plugin = load_plugin(&plugin_file(lib)).unwrap_or_else(|e| panic!("{e}"));
    let root = workspace_root();
    let opts = RunOptions {
        fixtures_dir: default_fixtures_dir(&root),
        expectations_dir: root.join("conformance/expectations").join(expectations),
        filter: None,
        random_splits: 16,
    };
    let report = run(&plugin, &opts).unwrap_or_else(|e| panic!("{e}"));
    println!("{}", report.table());
    report
}

#[test]
fn openai_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_openai", "openai");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["openai"] + report.skipped["openai"],
        14,
        "every recorded openai fixture is accounted for"
    );
    assert_eq!(
        report.skipped["openai"], 0,
        "embeddings and the Responses API are endpoints of the plugin"
    );
}

#[test]
fn mock_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_mock", "mock");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert!(report.results.len() > 5);
}

/// The suite is only worth something if it fails a broken plugin, and says where.
#[test]
fn a_deliberately_broken_plugin_fails_with_readable_diffs() {
    let report = suite("switchyard_testplugin_broken_openai", "openai");
    let failed = |case: &str| {
        report
            .results
            .iter()
            .find(|r| r.name == case)
            .filter(|r| !r.passed)
            .map(|r| r.detail.clone())
            .unwrap_or_else(|| panic!("{case} should fail:\n{}", report.table()))
    };
    // Wrong header.
    let detail = failed("chat_text/text");
    assert_eq!(
        detail,
        "upstream request /headers/authorization: expected \"Bearer sk-conformance\", missing"
    );
    // Dropped usage.
    let detail = failed("chat_reasoning/reasoning-tokens-in-usage");
    assert!(detail.starts_with("info/usage: expected"), "{detail}");
    // A decoder that loses the last chunk.
    let detail = failed("chat_stream_text/stream-with-usage-chunk");
    assert_eq!(detail, "stream/done: expected true, got false");
    // Errors are still classified right: those cases pass.
    assert!(report
        .results
        .iter()
        .any(|r| r.name == "chat_error_404/404-model-not-found" && r.passed));
    assert!(report.failures() >= 10, "{}", report.table());
}

#[derive(serde::Deserialize)]
struct Unclaimed {
    folder: String,
    reason: String,
}

/// Every folder of recorded fixtures is either claimed by a plugin's suite (which then must
/// cover or skip each file in it) or listed as unclaimed with a reason — and not both.
#[test]
fn every_recorded_fixture_folder_is_claimed_or_listed() {
    let root = workspace_root();
    let expectations = root.join("conformance/expectations");
    let mut claimed = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(&expectations).unwrap() {
        let suite_file = entry.unwrap().path().join("suite.yaml");
        if suite_file.is_file() {
            let suite: switchyard_conformance::expectation::SuiteFile =
                serde_yaml::from_str(&std::fs::read_to_string(&suite_file).unwrap()).unwrap();
            claimed.extend(suite.fixtures);
        }
    }
    let unclaimed: Vec<Unclaimed> = serde_yaml::from_str(
        &std::fs::read_to_string(expectations.join("unclaimed.yaml")).unwrap(),
    )
    .unwrap();
    let fixtures = default_fixtures_dir(&root);
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() || path.file_name().is_some_and(|n| n == "LICENSES") {
            continue;
        }
        let folder = path.file_name().unwrap().to_string_lossy().into_owned();
        let listed = unclaimed.iter().find(|u| u.folder == folder);
        match (claimed.contains(&folder), listed) {
            (true, None) => {}
            (false, Some(u)) => assert!(u.reason.len() > 10, "{folder}: give a reason"),
            (true, Some(_)) => {
                panic!("{folder} is claimed by a suite and still listed as unclaimed")
            }
            (false, None) => {
                panic!("{folder}: no plugin suite claims it and unclaimed.yaml does not list it")
            }
        }
    }
}

#[test]
fn anthropic_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_anthropic", "anthropic");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["anthropic"], 9,
        "every recorded anthropic fixture is covered"
    );
    assert_eq!(report.results.len(), 27, "{}", report.table());
}

#[test]
fn openai_compatible_family_passes_its_suite() {
    let report = suite("switchyard_provider_openai_compatible", "openai_compatible");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(report.covered["groq"], 6);
    assert_eq!(report.covered["mistral"], 7, "embeddings included");
    assert_eq!(report.skipped["mistral"], 0);
    assert_eq!(report.covered["openai_compatible"], 8);
}

#[test]
fn bedrock_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_bedrock", "bedrock");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["bedrock"], 10,
        "recorded bedrock fixtures covered, Titan embeddings included"
    );
    assert_eq!(
        report.skipped["bedrock"], 1,
        "skipped with a reason: the invoke route"
    );
    assert_eq!(report.results.len(), 34, "{}", report.table());
}

#[test]
fn azure_openai_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_azure_openai", "azure_openai");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["azure_openai"], 7,
        "every recorded azure_openai fixture is covered"
    );
    assert_eq!(report.skipped["azure_openai"], 0);
    assert_eq!(report.results.len(), 32, "{}", report.table());
}

#[test]
fn ollama_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_ollama", "ollama");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["ollama"], 8,
        "every recorded ollama fixture is covered"
    );
    assert_eq!(report.skipped["ollama"], 0);
    assert_eq!(report.results.len(), 30, "{}", report.table());
}

#[test]
fn cohere_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_cohere", "cohere");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["cohere"], 8,
        "every recorded cohere fixture is covered"
    );
    assert_eq!(report.skipped["cohere"], 0);
    assert_eq!(report.results.len(), 35, "{}", report.table());
}

#[test]
fn gemini_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_gemini", "gemini");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["gemini"], 10,
        "every recorded gemini fixture is covered"
    );
    assert_eq!(report.skipped["gemini"], 0);
    assert_eq!(report.results.len(), 30, "{}", report.table());
}

#[test]
fn vertex_ai_plugin_passes_its_suite() {
    let report = suite("switchyard_provider_vertex_ai", "vertex_ai");
    assert_eq!(report.failures(), 0, "{}", report.table());
    assert_eq!(
        report.covered["vertex_ai"], 9,
        "every recorded vertex_ai fixture is covered"
    );
    assert_eq!(report.skipped["vertex_ai"], 0);
    assert_eq!(report.results.len(), 19, "{}", report.table());
}
