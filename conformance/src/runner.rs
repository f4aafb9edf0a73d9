//! Runs a plugin's expectations against it, through the same ABI the host uses.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use switchyard_plugin_sdk::host::{PluginHandle, ProviderInstance};
use switchyard_plugin_sdk::{
    DeploymentConfig, ProviderError, RequestContext, ResponseHead, UpstreamRequest,
};

use crate::compare::{first_difference, first_subset_difference};
use crate::expectation::{
    load_suite, Case, ExpectationFile, RequestSpec, ResponseSpec, UpstreamSpec,
};
use crate::recorded::{read_recording, Interaction, Recording};
use crate::stream::{decode, random_pieces, summarize, Decoded};

/// Where to find things, and how hard to try.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Root of the recorded fixtures (`../shared/fixtures/recorded`).
    pub fixtures_dir: PathBuf,
    /// The plugin's expectation directory (with `suite.yaml`).
    pub expectations_dir: PathBuf,
    /// Only cases whose name contains this.
    pub filter: Option<String>,
    /// Random re-splits of every stream body (on top of whole and byte-by-byte).
    pub random_splits: usize,
}

/// The result of one row of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    /// The first difference, or a short note.
    pub detail: String,
}

/// Everything a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub plugin: String,
    pub results: Vec<CaseResult>,
    /// Recorded fixtures covered by an expectation, per folder.
    pub covered: BTreeMap<String, usize>,
    /// Recorded fixtures skipped (with a reason), per folder.
    pub skipped: BTreeMap<String, usize>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| !r.passed).count()
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let width = self
            .results
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(4)
            .clamp(4, 80);
        let mut out = format!("{:<width$}  {:<4}  {}\n", "case", "", "detail");
        for r in &self.results {
            let mark = if r.passed { "pass" } else { "FAIL" };
            out.push_str(&format!("{:<width$}  {mark}  {}\n", r.name, r.detail));
        }
        for (folder, n) in &self.covered {
            out.push_str(&format!(
                "coverage {folder}: {n} recorded fixtures covered, {} skipped with a reason\n",
                self.skipped.get(folder).copied().unwrap_or(0)
            ));
        }
        let failures = self.failures();
        out.push_str(&format!(
            "{}: {} passed, {} failed\n",
            self.plugin,
            self.results.len() - failures,
            failures
        ));
        out
    }
}

/// Runs every expectation of `opts.expectations_dir` against `plugin`.
pub fn run(plugin: &PluginHandle, opts: &RunOptions) -> Result<Report, String> {
    let suite = load_suite(&opts.expectations_dir)?;
    let mut report = Report {
        plugin: plugin.metadata().name.clone(),
        ..Report::default()
    };
    report.results.extend(check_metadata(plugin));
    check_coverage(
        &suite.suite.fixtures,
        &suite.suite.skip,
        &suite.files,
        opts,
        &mut report,
    )?;

    let mut recordings: BTreeMap<String, Recording> = BTreeMap::new();
    for file in &suite.files {
        let stem = file
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let recording = match &file.fixture {
            Some(fixture) => {
                if !recordings.contains_key(fixture) {
                    let path = opts.fixtures_dir.join(fixture);
                    recordings.insert(fixture.clone(), read_recording(&path)?);
                }
                recordings.get(fixture)
            }
            None => None,
        };
        for case in &file.cases {
            let name = format!("{stem}/{}", case.name);
            if opts.filter.as_deref().is_some_and(|f| !name.contains(f)) {
                continue;
            }
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run_case(plugin, file, case, recording, opts)
            }));
            let result = match outcome {
                Ok(Ok(note)) => CaseResult {
                    name,
                    passed: true,
                    detail: note,
                },
                Ok(Err(diff)) => CaseResult {
                    name,
                    passed: false,
                    detail: diff,
                },
                Err(_) => CaseResult {
                    name,
                    passed: false,
                    detail: "the case panicked".to_owned(),
                },
            };
            report.results.push(result);
        }
    }
    Ok(report)
}

fn check_metadata(plugin: &PluginHandle) -> Vec<CaseResult> {
    let m = plugin.metadata();
    let mut problems = Vec::new();
    let semver = |v: &str| {
        v.split('.')
            .take(3)
            .filter(|p| p.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .count()
            == 3
    };
    if !semver(&m.version) {
        problems.push(format!("version '{}' is not x.y.z", m.version));
    }
    if !semver(&m.sdk_version) {
        problems.push(format!("sdk_version '{}' is not x.y.z", m.sdk_version));
    }
    if m.abi_epoch != switchyard_plugin_sdk::ABI_EPOCH {
        problems.push(format!("abi_epoch {} in metadata", m.abi_epoch));
    }
    if m.endpoints.is_empty() {
        problems.push("declares no endpoints".to_owned());
    }
    let mut ids = BTreeSet::new();
    for model in &m.models {
        if model.id.is_empty() || !ids.insert(model.id.clone()) {
            problems.push(format!("model id '{}' is empty or repeated", model.id));
        }
        for (field, price) in [
            ("input_cost_per_token", &model.input_cost_per_token),
            ("output_cost_per_token", &model.output_cost_per_token),
            (
                "cache_read_input_token_cost",
                &model.cache_read_input_token_cost,
            ),
            (
                "cache_creation_input_token_cost",
                &model.cache_creation_input_token_cost,
            ),
        ] {
            if let Some(p) = price {
                let ok = !p.is_empty()
                    && p.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && p.matches('.').count() <= 1;
                if !ok {
                    problems.push(format!(
                        "{}: {field} '{p}' is not a plain non-negative decimal",
                        model.id
                    ));
                }
            }
        }
        if let (Some(ctx), Some(out)) = (model.context_window, model.max_output_tokens) {
            if out > ctx {
                problems.push(format!(
                    "{}: max_output_tokens {out} exceeds context_window {ctx}",
                    model.id
                ));
            }
        }
    }
    let mut seen = BTreeSet::new();
    for p in &m.supported_params {
        if !seen.insert(p) {
            problems.push(format!("supported_params lists '{p}' twice"));
        }
    }
    vec![CaseResult {
        name: "metadata".to_owned(),
        passed: problems.is_empty(),
        detail: if problems.is_empty() {
            format!(
                "{} {} serving {}",
                m.name,
                m.version,
                m.providers.join(", ")
            )
        } else {
            problems.join("; ")
        },
    }]
}

fn check_coverage(
    folders: &[String],
    skips: &[crate::expectation::Skip],
    files: &[ExpectationFile],
    opts: &RunOptions,
    report: &mut Report,
) -> Result<(), String> {
    let referenced: BTreeSet<&str> = files.iter().filter_map(|f| f.fixture.as_deref()).collect();
    let skipped: BTreeMap<&str, &str> = skips
        .iter()
        .map(|s| (s.fixture.as_str(), s.reason.as_str()))
        .collect();
    for skip in skips {
        if skip.reason.trim().len() < 10 {
            report.results.push(CaseResult {
                name: format!("skip {}", skip.fixture),
                passed: false,
                detail: "a skip needs a reason a reviewer can check".to_owned(),
            });
        }
        if !opts.fixtures_dir.join(&skip.fixture).is_file() {
            report.results.push(CaseResult {
                name: format!("skip {}", skip.fixture),
                passed: false,
                detail: "skipped fixture does not exist (stale skip entry)".to_owned(),
            });
        }
    }
    for folder in folders {
        let dir = opts.fixtures_dir.join(folder);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| format!("recorded fixtures {}: {e}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".chunks.txt") || n.ends_with(".json"))
            .collect();
        names.sort();
        let (mut covered, mut skipped_n) = (0, 0);
        for name in names {
            let fixture = format!("{folder}/{name}");
            if referenced.contains(fixture.as_str()) {
                covered += 1;
            } else if skipped.contains_key(fixture.as_str()) {
                skipped_n += 1;
            } else {
                report.results.push(CaseResult {
                    name: format!("coverage {fixture}"),
                    passed: false,
                    detail: "recorded fixture has no expectation and is not in the skip list"
                        .to_owned(),
                });
            }
        }
        report.covered.insert(folder.clone(), covered);
        report.skipped.insert(folder.clone(), skipped_n);
    }
    Ok(())
}

fn error_json(e: &ProviderError) -> Value {
    json!({
        "kind": e.kind.as_str(),
        "status": e.status,
        "code": e.code,
        "param": e.param,
        "retry_after_ms": e.retry_after_ms,
        "message": e.message,
    })
}

/// Compares an error with an expectation that may hold `message_contains`.
fn check_error(expected: &Value, actual: &Value, what: &str) -> Result<(), String> {
    let mut expected = expected.clone();
    if let Some(needle) = expected
        .as_object_mut()
        .and_then(|o| o.remove("message_contains"))
    {
        let needle = needle.as_str().unwrap_or_default();
        let message = actual["message"].as_str().unwrap_or_default();
        if !message.contains(needle) {
            return Err(format!(
                "{what}/message: expected to contain {needle:?}, got {message:?}"
            ));
        }
    }
    match first_subset_difference(&expected, actual, what) {
        Some(d) => Err(d),
        None => Ok(()),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn check_upstream_request(
    spec: &UpstreamSpec,
    produced: &UpstreamRequest,
    interaction: Option<&Interaction>,
) -> Result<(), String> {
    if let Some(method) = &spec.method {
        if !method.eq_ignore_ascii_case(&produced.method) {
            return Err(format!(
                "upstream request /method: expected {method:?}, got {:?}",
                produced.method
            ));
        }
    }
    if let Some(url) = &spec.url {
        if *url != produced.url {
            return Err(format!(
                "upstream request /url: expected {url:?}, got {:?}",
                produced.url
            ));
        }
    }
    for (name, value) in &spec.headers {
        match header(&produced.headers, name) {
            Some(v) if v == value => {}
            Some(v) => {
                return Err(format!(
                    "upstream request /headers/{name}: expected {value:?}, got {v:?}"
                ))
            }
            None => {
                return Err(format!(
                    "upstream request /headers/{name}: expected {value:?}, missing"
                ))
            }
        }
    }
    for name in &spec.headers_absent {
        if header(&produced.headers, name).is_some() {
            return Err(format!("upstream request /headers/{name}: must be absent"));
        }
    }
    let Some(body_spec) = &spec.body else {
        return Ok(());
    };
    let produced_body: Value = serde_json::from_slice(&produced.body)
        .map_err(|e| format!("upstream request /body: not JSON: {e}"))?;
    let diff = if body_spec.as_str() == Some("recorded") {
        let recorded = interaction
            .and_then(|i| i.request.as_ref())
            .ok_or("upstream request /body: 'recorded' but the fixture has no recorded request")?;
        let recorded: Value = serde_json::from_slice(&recorded.body)
            .map_err(|e| format!("recorded request body is not JSON: {e}"))?;
        first_difference(&recorded, &produced_body, &spec.body_ignore)
    } else {
        first_subset_difference(body_spec, &produced_body, "")
    };
    match diff {
        Some(d) => Err(format!("upstream request body {d}")),
        None => Ok(()),
    }
}

/// The response a case feeds the plugin: status, headers, body.
fn response_of(
    case: &Case,
    interaction: Option<&Interaction>,
    produced: &UpstreamRequest,
) -> Result<(ResponseHead, Vec<u8>), String> {
    match &case.response {
        ResponseSpec::Keyword(k) if k == "recorded" => {
            let i = interaction.ok_or("response 'recorded' needs a fixture")?;
            Ok((
                ResponseHead {
                    status: i.response.status,
                    headers: i.response.headers.clone(),
                },
                i.response.body.clone(),
            ))
        }
        ResponseSpec::Keyword(k) if k == "simulated" => {
            let sim = produced
                .simulated
                .as_ref()
                .ok_or("response 'simulated' but the plugin made a real request")?;
            Ok((
                ResponseHead {
                    status: sim.status,
                    headers: sim.headers.clone(),
                },
                sim.chunks.concat(),
            ))
        }
        ResponseSpec::Keyword(other) => Err(format!(
            "unknown response keyword '{other}' (recorded | simulated)"
        )),
        ResponseSpec::Inline(r) => {
            let body = match (&r.json, &r.body, &r.eventstream) {
                (Some(json), None, None) => serde_json::to_vec(json).map_err(|e| e.to_string())?,
                (None, Some(text), None) => text.clone().into_bytes(),
                (None, None, Some(frames)) => eventstream_body(frames)?,
                (None, None, None) => Vec::new(),
                _ => {
                    return Err(
                        "inline response has more than one of json, body and eventstream"
                            .to_owned(),
                    )
                }
            };
            let headers = r
                .headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            Ok((
                ResponseHead {
                    status: r.status,
                    headers,
                },
                body,
            ))
        }
    }
}

/// Encodes inline event-stream frames.
fn eventstream_body(frames: &[crate::expectation::EventFrame]) -> Result<Vec<u8>, String> {
    use switchyard_plugin_sdk::eventstream::{encode_event, encode_exception};
    let mut body = Vec::new();
    for frame in frames {
        let payload = serde_json::to_vec(&frame.json).map_err(|e| e.to_string())?;
        body.extend(match (&frame.event, &frame.exception) {
            (Some(event), None) => encode_event(event, &payload),
            (None, Some(exception)) => encode_exception(exception, &payload),
            _ => return Err("an eventstream frame needs exactly one of event, exception".into()),
        });
    }
    Ok(body)
}

fn run_case(
    plugin: &PluginHandle,
    file: &ExpectationFile,
    case: &Case,
    recording: Option<&Recording>,
    opts: &RunOptions,
) -> Result<String, String> {
    let interaction = match recording {
        Some(r) => Some(r.interactions.get(case.interaction).ok_or_else(|| {
            format!(
                "{}: fixture has no interaction {}",
                file.path.display(),
                case.interaction
            )
        })?),
        None => None,
    };
    let body: Vec<u8> = match &case.request {
        RequestSpec::Keyword(k) if k == "recorded" => interaction
            .and_then(|i| i.request.as_ref())
            .map(|r| r.body.clone())
            .ok_or("request 'recorded' but the fixture has no recorded request")?,
        RequestSpec::Keyword(other) => return Err(format!("unknown request keyword '{other}'")),
        RequestSpec::Inline(v) => serde_json::to_vec(v).map_err(|e| e.to_string())?,
    };
    let request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let stream = case
        .stream
        .unwrap_or_else(|| request_json["stream"].as_bool().unwrap_or(false));
    let include_usage = case.include_usage.unwrap_or_else(|| {
        stream
            && request_json["stream_options"]["include_usage"]
                .as_bool()
                .unwrap_or(false)
    });
    let context = RequestContext {
        request_id: "conformance".to_owned(),
        attempt: 0,
        now_unix_ms: case.now_unix_ms.unwrap_or(1_700_000_000_000),
        stream,
        include_usage,
        drop_params: false,
        endpoint: case.endpoint.clone().unwrap_or_else(|| "chat".to_owned()),
        auth_token: None,
        content_type: case.content_type.clone(),
        passthrough: case.passthrough.clone(),
    };
    let deployment_value = if case.deployment.is_null() {
        json!({})
    } else {
        case.deployment.clone()
    };
    let deployment: DeploymentConfig =
        serde_json::from_value(deployment_value).map_err(|e| format!("deployment: {e}"))?;
    let provider: ProviderInstance = match plugin.instantiate(&deployment) {
        Ok(p) => p,
        Err(e) => {
            return match &case.expect.build_error {
                Some(expected) => check_error(expected, &error_json(&e), "build_error")
                    .map(|()| "deployment rejected as expected".to_owned()),
                None => Err(format!("instantiate failed: {}", e.message)),
            };
        }
    };

    let endpoint = case.endpoint.as_deref().unwrap_or("chat");
    let produced = match provider.build_request(endpoint, &body, &context) {
        Ok(r) => r,
        Err(e) => {
            return match &case.expect.build_error {
                Some(expected) => check_error(expected, &error_json(&e), "build_error")
                    .map(|()| "build error as expected".to_owned()),
                None => Err(format!("build_request failed: {} ({})", e.message, e.kind)),
            };
        }
    };
    if case.expect.build_error.is_some() {
        return Err("expected build_request to fail, it succeeded".to_owned());
    }
    if let Some(spec) = &case.upstream_request {
        check_upstream_request(spec, &produced, interaction)?;
    }

    let (mut head, response_body) = response_of(case, interaction, &produced)?;
    if endpoint != "chat" {
        head.headers.push((
            switchyard_plugin_sdk::ENDPOINT_HEADER.to_owned(),
            endpoint.to_owned(),
        ));
    }
    if !(200..300).contains(&head.status) {
        let e = provider.classify_error(&head, &response_body);
        let expected = case.expect.error.as_ref().ok_or_else(|| {
            format!("upstream answered {} and the plugin classified it as {} ({}); the case expects success", head.status, e.kind, e.message)
        })?;
        check_error(expected, &error_json(&e), "error")?;
        return Ok(format!("{} → {} {}", head.status, e.kind, e.status));
    }

    if stream {
        let decode_with = |pieces: &[&[u8]]| -> Result<Decoded, String> {
            let mut decoder = provider
                .stream_decoder(&context)
                .map_err(|e| format!("stream_decoder failed: {}", e.message))?;
            Ok(decode(&mut decoder, pieces))
        };
        let whole = decode_with(&[&response_body])?;
        let bytewise: Vec<&[u8]> = response_body.chunks(1).collect();
        let mut variants = vec![("one byte at a time".to_owned(), decode_with(&bytewise)?)];
        for seed in 0..opts.random_splits as u64 {
            let pieces = random_pieces(&response_body, seed + 1, 1 + (seed as usize % 24));
            variants.push((format!("random split #{}", seed + 1), decode_with(&pieces)?));
        }
        for (how, decoded) in &variants {
            if decoded != &whole {
                let a = serde_json::to_value(summarize(&whole)).unwrap_or_default();
                let b = serde_json::to_value(summarize(decoded)).unwrap_or_default();
                let diff =
                    first_difference(&a, &b, &[]).unwrap_or_else(|| "SSE bytes differ".to_owned());
                return Err(format!("stream decoded {how} differs from whole: {diff}"));
            }
        }
        let summary = summarize(&whole);
        let summary_json = serde_json::to_value(&summary).map_err(|e| e.to_string())?;
        if let Some(expected) = &case.expect.stream {
            if let Some(d) = first_subset_difference(expected, &summary_json, "stream") {
                return Err(d);
            }
        }
        if let Some(expected) = &case.expect.info {
            let info = serde_json::to_value(&whole.info).map_err(|e| e.to_string())?;
            if let Some(d) = first_subset_difference(expected, &info, "info") {
                return Err(d);
            }
        }
        match (&case.expect.error, &whole.error) {
            (Some(expected), Some(e)) => check_error(expected, &error_json(e), "error")?,
            (Some(_), None) => {
                return Err(
                    "error: expected the stream to end with an error, it did not".to_owned(),
                )
            }
            (None, Some(e)) => {
                return Err(format!(
                    "stream ended with an unexpected error: {} ({})",
                    e.message, e.kind
                ))
            }
            (None, None) => {}
        }
        if case.expect.response.is_some() {
            return Err("a stream case cannot expect a 'response'; use 'stream'".to_owned());
        }
        return Ok(format!(
            "{} events, {} splits agree",
            summary.events,
            variants.len() + 1
        ));
    }

    match provider.parse_response(&head, &response_body) {
        Ok(parsed) => {
            if case.expect.error.is_some() {
                return Err("error: expected an error, the plugin parsed a response".to_owned());
            }
            if let Some(expected) = &case.expect.response {
                let actual: Value = serde_json::from_slice(&parsed.body)
                    .map_err(|e| format!("response is not JSON: {e}"))?;
                if let Some(d) = first_subset_difference(expected, &actual, "response") {
                    return Err(d);
                }
            }
            if let Some(expected) = &case.expect.info {
                let info = serde_json::to_value(&parsed.info).map_err(|e| e.to_string())?;
                if let Some(d) = first_subset_difference(expected, &info, "info") {
                    return Err(d);
                }
            }
            if case.expect.stream.is_some() {
                return Err("a non-stream case cannot expect a 'stream'".to_owned());
            }
            Ok("response as expected".to_owned())
        }
        Err(e) => match &case.expect.error {
            Some(expected) => check_error(expected, &error_json(&e), "error")
                .map(|()| format!("→ {} {}", e.kind, e.status)),
            None => Err(format!("parse_response failed: {} ({})", e.message, e.kind)),
        },
    }
}

/// `<workspace>/../shared/fixtures/recorded`, the default fixtures directory.
pub fn default_fixtures_dir(workspace_root: &Path) -> PathBuf {
    workspace_root.join("../shared/fixtures/recorded")
}
