//! switchyard's own conformance format: expectation files that refer to recorded fixtures by
//! provider and file name (never copies of them), or carry their own upstream response.
//! See `docs/conformance.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// `suite.yaml` of a plugin's expectation directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Recorded fixture folders this plugin must cover (`openai`, `openai_compatible`, …).
    #[serde(default)]
    pub fixtures: Vec<String>,
    /// Recorded fixtures deliberately not covered, each with the reason.
    #[serde(default)]
    pub skip: Vec<Skip>,
}

/// A recorded fixture left out, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Skip {
    /// `provider/file` relative to the fixtures directory.
    pub fixture: String,
    pub reason: String,
}

/// One expectation file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectationFile {
    /// The recorded fixture (`openai/chat_text__pydantic-ai.yaml`); absent for switchyard's own
    /// cases, which then give every response inline.
    #[serde(default)]
    pub fixture: Option<String>,
    pub cases: Vec<Case>,
    /// Where it was read from (filled by the loader).
    #[serde(skip)]
    pub path: PathBuf,
}

/// The client request of a case.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RequestSpec {
    /// `recorded`: the recorded upstream request body (for OpenAI-shaped upstreams it is also
    /// what a client sends the gateway).
    Keyword(String),
    /// An inline OpenAI request.
    Inline(Value),
}

/// Where the upstream response comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ResponseSpec {
    /// `recorded` (the interaction's response) or `simulated` (the exchange the plugin itself
    /// simulates, for the mock provider).
    Keyword(String),
    Inline(InlineResponse),
}

/// An upstream response written in the expectation file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineResponse {
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default)]
    pub json: Option<Value>,
    /// A raw text body (SSE, NDJSON, …).
    #[serde(default)]
    pub body: Option<String>,
    /// An `application/vnd.amazon.eventstream` body, one frame per entry, encoded (with its
    /// checksums) by the SDK's encoder.
    #[serde(default)]
    pub eventstream: Option<Vec<EventFrame>>,
}

/// One frame of an inline event-stream body: an event or an exception, with a JSON payload.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFrame {
    /// `:event-type` of a `:message-type: event` frame.
    #[serde(default)]
    pub event: Option<String>,
    /// `:exception-type` of a `:message-type: exception` frame.
    #[serde(default)]
    pub exception: Option<String>,
    #[serde(default)]
    pub json: Value,
}

/// The upstream request a plugin must produce.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    #[serde(default)]
    pub method: Option<String>,
    /// Exact URL.
    #[serde(default)]
    pub url: Option<String>,
    /// Headers that must be present with these values (names lower-case).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub headers_absent: Vec<String>,
    /// `recorded` (semantically equal to the recorded request body, minus `body_ignore`) or a
    /// JSON value the body must contain (subset match).
    #[serde(default)]
    pub body: Option<Value>,
    /// JSON pointers ignored when comparing with the recorded body.
    #[serde(default)]
    pub body_ignore: Vec<String>,
}

/// The expected normalized outcome. At least one part must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Subset of the OpenAI response JSON.
    #[serde(default)]
    pub response: Option<Value>,
    /// Subset of the reported side data (`usage`, `finish_reason`, `model`).
    #[serde(default)]
    pub info: Option<Value>,
    /// Subset of the assembled stream (see [`crate::stream::StreamSummary`]).
    #[serde(default)]
    pub stream: Option<Value>,
    /// Subset of the classified error: `kind`, `status`, `code`, `param`, `retry_after_ms`,
    /// `message_contains`.
    #[serde(default)]
    pub error: Option<Value>,
    /// An error `instantiate` or `build_request` must return, same shape as `error`.
    #[serde(default)]
    pub build_error: Option<Value>,
}

impl Expect {
    pub fn is_empty(&self) -> bool {
        self.response.is_none()
            && self.info.is_none()
            && self.stream.is_none()
            && self.error.is_none()
            && self.build_error.is_none()
    }
}

/// One case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// Which recorded interaction (default 0).
    #[serde(default)]
    pub interaction: usize,
    /// The endpoint id handed to `build_request` (default `chat`); other endpoints also get
    /// the `x-switchyard-endpoint` pseudo-header on the response head, as from the host.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The request context's `content_type` (a multipart body's, on `audio_transcriptions`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// The request context's `passthrough` (method and path) on the `passthrough` endpoint.
    #[serde(default)]
    pub passthrough: Option<switchyard_plugin_sdk::Passthrough>,
    /// The request context's clock (default 1,700,000,000,000): fixed per case so request
    /// signatures can be compared (a recording's `X-Amz-Date`, say).
    #[serde(default)]
    pub now_unix_ms: Option<u64>,
    /// JSON of the `DeploymentConfig` handed to `instantiate`.
    #[serde(default)]
    pub deployment: Value,
    pub request: RequestSpec,
    /// Stream flag of the request context (default: the request's `stream`).
    #[serde(default)]
    pub stream: Option<bool>,
    /// Whether the client asked for usage (default: the request's `stream_options`).
    #[serde(default)]
    pub include_usage: Option<bool>,
    #[serde(default)]
    pub upstream_request: Option<UpstreamSpec>,
    #[serde(default = "recorded_response")]
    pub response: ResponseSpec,
    pub expect: Expect,
}

fn recorded_response() -> ResponseSpec {
    ResponseSpec::Keyword("recorded".to_owned())
}

/// A plugin's expectation directory, loaded.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub suite: SuiteFile,
    pub files: Vec<ExpectationFile>,
}

/// Loads `dir/suite.yaml` and every other `*.yaml` in `dir`.
pub fn load_suite(dir: &Path) -> Result<Suite, String> {
    let suite_path = dir.join("suite.yaml");
    let suite: SuiteFile = match std::fs::read_to_string(&suite_path) {
        Ok(text) => {
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", suite_path.display()))?
        }
        Err(e) => return Err(format!("{}: {e}", suite_path.display())),
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "yaml")
                && p.file_name().is_some_and(|n| n != "suite.yaml")
        })
        .collect();
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut file: ExpectationFile =
            serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        file.path = path.clone();
        if file.cases.is_empty() {
            return Err(format!("{}: no cases", path.display()));
        }
        for case in &file.cases {
            if case.expect.is_empty() {
                return Err(format!(
                    "{}: case '{}' expects nothing (expectations are never empty)",
                    path.display(),
                    case.name
                ));
            }
        }
        files.push(file);
    }
    Ok(Suite { suite, files })
}
