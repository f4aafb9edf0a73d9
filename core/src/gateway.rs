//! The OpenAI-compatible gateway as a service: `http::Request` in, `http::Response` out.
//!
//! It knows nothing about sockets, so it can be mounted in any hyper-based server; the
//! `switchyard` binary is one such server.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde::Serialize;
use switchyard_plugin_sdk::host::PluginHandle;
use switchyard_plugin_sdk::ErrorKind;

use crate::body::GatewayBody;
use crate::config::{Config, ConfigWarning, Secret};
use crate::engine::{ChatAnswer, ChatRequest, Engine, Failed, Served};
use crate::error::GatewayError;
use crate::fair::{FairQueue, Permit};
use crate::metrics::{self, RequestLabels};
use crate::registry::{PluginEnv, ProviderRegistry};
use crate::stream::{StreamEnd, StreamOutcome};
use crate::tenancy::budget::{nanos_of, usd_text};
use crate::tenancy::{AdminRoute, Admission, Principal, Tenancy};
use crate::transport::Transport;
use crate::types::ChatRequestHead;

mod api;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Response extension: whether the deployment that answered served the request's own endpoint
/// (an Anthropic deployment answering `/v1/messages`), rather than its translation to chat.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServedNatively(pub(crate) bool);

/// One model call: the endpoint, the members the gateway reads, and the body for the plugin.
pub(crate) struct Call {
    pub(crate) endpoint: &'static str,
    pub(crate) head: ChatRequestHead,
    pub(crate) body: Bytes,
    /// The client's content type of a non-JSON body (a multipart upload).
    pub(crate) content_type: Option<String>,
    pub(crate) passthrough: Option<switchyard_plugin_sdk::Passthrough>,
    /// The request translated to another endpoint, for deployments not serving `endpoint`.
    pub(crate) alternate: Option<(&'static str, Bytes)>,
    /// Only deployments of this provider (pass-through routes).
    pub(crate) provider: Option<String>,
}

impl Call {
    /// A call with a JSON body, validated for `endpoint`.
    pub(crate) fn json(endpoint: &'static str, body: Bytes) -> Result<Call, GatewayError> {
        let head = ChatRequestHead::parse_for(endpoint, &body)?;
        Ok(Call::new(endpoint, head, body))
    }

    pub(crate) fn new(endpoint: &'static str, head: ChatRequestHead, body: Bytes) -> Call {
        Call {
            endpoint,
            head,
            body,
            content_type: None,
            passthrough: None,
            alternate: None,
            provider: None,
        }
    }
}

/// Default cap on a request body.
pub const DEFAULT_BODY_LIMIT: usize = 32 * 1024 * 1024;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const X_MODEL_GROUP: HeaderName = HeaderName::from_static("x-switchyard-model-group");
const X_DEPLOYMENT: HeaderName = HeaderName::from_static("x-switchyard-deployment");
const X_PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
const X_OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-duration-ms");
const X_RETRIES: HeaderName = HeaderName::from_static("x-switchyard-attempted-retries");
const X_FALLBACKS: HeaderName = HeaderName::from_static("x-switchyard-attempted-fallbacks");
const X_LITELLM_RETRIES: HeaderName = HeaderName::from_static("x-litellm-attempted-retries");
const X_LITELLM_FALLBACKS: HeaderName = HeaderName::from_static("x-litellm-attempted-fallbacks");
const X_LITELLM_MAX_RETRIES: HeaderName = HeaderName::from_static("x-litellm-max-retries");
const X_COST: HeaderName = HeaderName::from_static("x-switchyard-response-cost");
const X_LITELLM_COST: HeaderName = HeaderName::from_static("x-litellm-response-cost");

/// Output tokens reserved for a request that sets no `max_tokens` on a model whose catalog
/// gives no maximum.
const DEFAULT_MAX_OUTPUT_TOKENS: u64 = 4096;
const X_LITELLM_CALL_ID: HeaderName = HeaderName::from_static("x-litellm-call-id");
const X_LITELLM_MODEL_GROUP: HeaderName = HeaderName::from_static("x-litellm-model-group");
const X_LITELLM_MODEL_ID: HeaderName = HeaderName::from_static("x-litellm-model-id");
const X_LITELLM_OVERHEAD: HeaderName = HeaderName::from_static("x-litellm-overhead-duration-ms");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Renders the metrics exposition (installed by the host).
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// Looks up an environment variable.
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Builds a [`Gateway`] from a config and plugins.
pub struct GatewayBuilder {
    config: Config,
    registry: ProviderRegistry,
    env: EnvLookup,
    metrics: Option<MetricsRenderer>,
    config_path: Option<std::path::PathBuf>,
}

impl fmt::Debug for GatewayBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayBuilder")
            .field("registry", &self.registry)
            .finish_non_exhaustive()
    }
}

impl GatewayBuilder {
    pub fn new(config: Config) -> Self {
        GatewayBuilder {
            config,
            registry: ProviderRegistry::new(),
            env: Arc::new(|name| std::env::var(name).ok()),
            metrics: None,
            config_path: None,
        }
    }

    /// Adds a provider plugin (loaded from a file or linked statically).
    pub fn plugin(mut self, plugin: PluginHandle) -> Result<Self, String> {
        self.registry.register(plugin)?;
        Ok(self)
    }

    /// Where plugins' credential variables are read from (the process environment by default).
    pub fn env(mut self, env: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        self.env = Arc::new(env);
        self
    }

    /// Serves `GET /metrics` with this renderer.
    pub fn metrics_renderer(mut self, render: MetricsRenderer) -> Self {
        self.metrics = Some(render);
        self
    }

    /// The file the config came from: [`Gateway::reload`] and `POST /config/reload` read it
    /// again.
    pub fn config_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config_path = Some(path.into());
        self
    }

    /// Instantiates every deployment. Returns the gateway and warnings to log. With a shared
    /// state (`router_settings.redis_url`) it must run inside a Tokio runtime.
    pub fn build(self) -> Result<(Gateway, Vec<ConfigWarning>), String> {
        let transport = Transport::new()?;
        let plugins = self
            .registry
            .plugins()
            .iter()
            .map(|p| {
                let m = p.metadata();
                PluginSummary {
                    name: m.name.clone(),
                    version: m.version.clone(),
                }
            })
            .collect();
        let passthrough_providers = self
            .registry
            .plugins()
            .iter()
            .map(|p| p.metadata())
            .filter(|m| m.endpoints.iter().any(|e| e == "passthrough"))
            .flat_map(|m| m.providers.iter().cloned())
            .collect();
        let shared = match crate::shared::redis_url(&self.config) {
            Some(url) => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(
                        "router_settings.redis_url: a gateway with shared state must be \
                                built inside a Tokio runtime"
                            .to_owned(),
                    );
                }
                let s = &self.config.switchyard;
                Some(crate::shared::Shared::start(
                    &url,
                    s.redis_key_prefix.as_deref(),
                    s.replica_id.as_deref(),
                )?)
            }
            None => None,
        };
        let router_state: Arc<dyn crate::router::RouterState> = match &shared {
            Some(s) => crate::shared::SharedRouterState::start(s.clone()),
            None => Arc::new(crate::router::LocalState::new()),
        };
        let rebuild = Rebuild {
            registry: self.registry,
            env: self.env,
            transport,
            router_state,
        };
        let (live, warnings) = rebuild.live(&self.config)?;
        let tenancy_setup = self
            .config
            .general_settings
            .master_key
            .as_ref()
            .map(|master| {
                let g = &self.config.general_settings;
                let url = match &g.database_url {
                    Some(u) => u.expose().to_owned(),
                    None => self
                        .config
                        .switchyard
                        .database_path
                        .clone()
                        .unwrap_or_else(|| "switchyard.db".into())
                        .to_string_lossy()
                        .into_owned(),
                };
                let secret = g
                    .salt_key
                    .as_ref()
                    .unwrap_or(master)
                    .expose()
                    .as_bytes()
                    .to_vec();
                let clock_offset_ms = (rebuild.env)("SWITCHYARD_CLOCK_START_MS")
                    .and_then(|v| v.parse::<i64>().ok())
                    .map(|start| start - crate::router::unix_ms() as i64)
                    .unwrap_or(0);
                let mut access_groups: std::collections::HashMap<String, Vec<String>> =
                    std::collections::HashMap::new();
                for entry in &self.config.model_list {
                    if let Some(serde_json::Value::Array(groups)) =
                        entry.model_info.extra.get("access_groups")
                    {
                        for g in groups.iter().filter_map(|g| g.as_str()) {
                            let list = access_groups.entry(g.to_owned()).or_default();
                            if !list.contains(&entry.model_name) {
                                list.push(entry.model_name.clone());
                            }
                        }
                    }
                }
                TenancySetup {
                    url: Secret::new(url),
                    secret,
                    clock_offset_ms,
                    access_groups,
                    budget_fail_mode: self.config.switchyard.budget_fail_mode,
                }
            });
        let body_limit = self
            .config
            .switchyard
            .request_body_limit_bytes
            .unwrap_or(DEFAULT_BODY_LIMIT);
        let inner = Inner {
            live: ArcSwap::from_pointee(live),
            rebuild,
            config_path: self.config_path,
            reloading: tokio::sync::Mutex::new(()),
            shared,
            master_key: self.config.general_settings.master_key.clone(),
            metrics: self.metrics,
            body_limit,
            plugins,
            passthrough_providers,
            responses: api::MemoryResponses::default(),
            tenancy: tokio::sync::OnceCell::new(),
            tenancy_setup,
            tenancy_error: std::sync::Mutex::new(None),
        };
        Ok((
            Gateway {
                inner: Arc::new(inner),
            },
            warnings,
        ))
    }
}

/// What a config reload needs besides the new config: the plugins, the environment, the
/// transport and the router state (cooldowns and load outlive a reload).
struct Rebuild {
    registry: ProviderRegistry,
    env: EnvLookup,
    transport: Transport,
    router_state: Arc<dyn crate::router::RouterState>,
}

impl Rebuild {
    fn live(&self, config: &Config) -> Result<(Live, Vec<ConfigWarning>), String> {
        let env = PluginEnv::capture(&self.registry, &*self.env);
        let (engine, warnings) = Engine::build(
            config,
            self.registry.clone(),
            env,
            self.transport.clone(),
            self.router_state.clone(),
        )?;
        let r = &config.router_settings;
        let mut capacities: std::collections::HashMap<String, Option<usize>> =
            std::collections::HashMap::new();
        for entry in &config.model_list {
            let limit = entry
                .litellm_params
                .extra
                .get("max_parallel_requests")
                .and_then(serde_json::Value::as_u64)
                .or(r.default_max_parallel_requests)
                .map(|n| n as usize);
            let slot = capacities
                .entry(entry.model_name.clone())
                .or_insert(Some(0));
            // A group is bounded only when every one of its deployments is.
            *slot = match (*slot, limit) {
                (Some(total), Some(n)) => Some(total + n),
                _ => None,
            };
        }
        let max_queued = r.max_queued_requests.unwrap_or(1024) as usize;
        let queues = capacities
            .into_iter()
            .filter_map(|(group, capacity)| {
                let capacity = capacity.filter(|c| *c > 0)?;
                Some((group.clone(), FairQueue::new(group, capacity, max_queued)))
            })
            .collect();
        let queue_timeout = r
            .queue_timeout
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or(Duration::from_secs(60));
        Ok((
            Live {
                engine,
                queues,
                queue_timeout,
                loaded_at_ms: crate::router::unix_ms(),
            },
            warnings,
        ))
    }
}

/// The part of the gateway a config reload replaces, atomically: a request holds the `Live` it
/// started with until it is answered.
struct Live {
    engine: Engine,
    /// Fair-share queues of the groups with bounded parallelism.
    queues: std::collections::HashMap<String, Arc<FairQueue>>,
    queue_timeout: Duration,
    loaded_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
struct PluginSummary {
    name: String,
    version: String,
}

/// Where tenancy's database is and how keys are hashed.
struct TenancySetup {
    url: Secret,
    secret: Vec<u8>,
    clock_offset_ms: i64,
    access_groups: std::collections::HashMap<String, Vec<String>>,
    budget_fail_mode: crate::config::BudgetFailMode,
}

struct Inner {
    live: ArcSwap<Live>,
    rebuild: Rebuild,
    config_path: Option<std::path::PathBuf>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Redis shared by the replicas, when configured.
    shared: Option<Arc<crate::shared::Shared>>,
    master_key: Option<Secret>,
    /// Keys, users, teams, budgets and spend, once the database is open.
    tenancy: tokio::sync::OnceCell<Arc<Tenancy>>,
    tenancy_setup: Option<TenancySetup>,
    /// Why the last attempt to open the database failed, for readiness and 503s.
    tenancy_error: std::sync::Mutex<Option<String>>,
    metrics: Option<MetricsRenderer>,
    body_limit: usize,
    plugins: Vec<PluginSummary>,
    /// Provider ids with a pass-through route (`/anthropic/...`): their plugin serves it.
    passthrough_providers: Vec<String>,
    /// Responses API objects when there is no database.
    responses: api::MemoryResponses,
}

/// The gateway service. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

impl fmt::Debug for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field(
                "model_groups",
                &self.inner.live.load().engine.group_names().len(),
            )
            .field("plugins", &self.inner.plugins)
            .finish_non_exhaustive()
    }
}

enum Route {
    Liveness,
    Readiness,
    Metrics,
    Models,
    ChatCompletions,
    Embeddings,
    Completions,
    Messages,
    CountTokens,
    Responses,
    ResponseItem(String),
    Rerank,
    Images,
    AudioTranscriptions,
    AudioSpeech,
    ConfigReload,
    Admin(AdminRoute),
}

fn route(method: &Method, path: &str) -> Result<Route, GatewayError> {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let (route, allowed) = match path {
        "/health/liveliness" | "/health/liveness" => (Route::Liveness, Method::GET),
        "/health/readiness" => (Route::Readiness, Method::GET),
        "/metrics" => (Route::Metrics, Method::GET),
        "/v1/models" | "/models" => (Route::Models, Method::GET),
        "/v1/chat/completions" | "/chat/completions" => (Route::ChatCompletions, Method::POST),
        "/v1/embeddings" | "/embeddings" => (Route::Embeddings, Method::POST),
        "/v1/completions" | "/completions" => (Route::Completions, Method::POST),
        "/v1/messages" => (Route::Messages, Method::POST),
        "/v1/messages/count_tokens" => (Route::CountTokens, Method::POST),
        "/v1/responses" | "/responses" => (Route::Responses, Method::POST),
        "/v1/rerank" | "/rerank" | "/v2/rerank" => (Route::Rerank, Method::POST),
        "/v1/images/generations" | "/images/generations" => (Route::Images, Method::POST),
        "/v1/audio/transcriptions" | "/audio/transcriptions" => {
            (Route::AudioTranscriptions, Method::POST)
        }
        "/v1/audio/speech" | "/audio/speech" => (Route::AudioSpeech, Method::POST),
        _ if path.starts_with("/v1/responses/") || path.starts_with("/responses/") => {
            let id = path.rsplit('/').next().unwrap_or("").to_owned();
            if *method == Method::GET || *method == Method::DELETE {
                return Ok(Route::ResponseItem(id));
            }
            (Route::ResponseItem(id), Method::GET)
        }
        "/config/reload" => (Route::ConfigReload, Method::POST),
        _ => match AdminRoute::parse(path) {
            Some((admin, get)) => (
                Route::Admin(admin),
                if get { Method::GET } else { Method::POST },
            ),
            None => {
                return Err(GatewayError::new(
                    ErrorKind::NotFound,
                    format!("no route for {method} {path}"),
                )
                .with_code("unknown_route"))
            }
        },
    };
    if *method != allowed && !(allowed == Method::GET && *method == Method::HEAD) {
        return Err(GatewayError::invalid_request(
            format!("{path} accepts {allowed}, not {method}"),
            None,
        )
        .with_status(405)
        .with_code("method_not_allowed"));
    }
    Ok(route)
}

/// The gateway's id of a request: the key of its spend log, `x-litellm-call-id`, the id plugins
/// see. 32 hex digits: Unix milliseconds (12), then 80 random bits. Ids sort by time, so spend
/// logs go in at the end of the request-id index instead of dirtying a random page of it per
/// row (random ids: ~5 SQLite WAL writes per log at 80 k rows; these: 0.18 at 400 k).
fn new_request_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut id = [0u8; 16];
    // The low 48 bits of the milliseconds (until the year 10889), then 80 random bits.
    id[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    id[6..].copy_from_slice(&rand::random::<[u8; 10]>());
    hex::encode(id)
}

/// A caller's own `x-request-id`, echoed back and logged so traces line up across hops. It is
/// never the gateway's id: callers reuse theirs, and a spend log keyed by it would be lost.
fn caller_request_id<B>(req: &Request<B>) -> Option<HeaderValue> {
    req.headers()
        .get(&X_REQUEST_ID)
        .filter(|v| {
            let id = v.as_bytes();
            !id.is_empty() && id.len() <= 128 && id.iter().all(u8::is_ascii_graphic)
        })
        .cloned()
}

/// Compares without an early exit, so timing does not reveal how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn presented_key<B>(req: &Request<B>) -> Option<&str> {
    let headers = req.headers();
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let token = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .unwrap_or(v)
            .trim();
        if !token.is_empty() {
            return Some(token);
        }
    }
    headers
        .get("x-api-key")
        .or_else(|| headers.get("api-key"))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Milliseconds with three decimals (`0.412`), as a header value, from whole microseconds: no
/// float formatting on every answer.
fn ms_header(d: Duration) -> HeaderValue {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    let mut text = String::with_capacity(24);
    text.push_str(itoa::Buffer::new().format(micros / 1000));
    text.push('.');
    // Three digits with leading zeros: a fourth digit, 1, added and skipped.
    text.push_str(&itoa::Buffer::new().format(1000 + micros % 1000)[1..]);
    HeaderValue::try_from(text).unwrap_or(HeaderValue::from_static("0.000"))
}

/// The headers every answer of a deployment carries: its names, in both spellings (a name that
/// is not a valid header value is left out), and zero retries and fallbacks. Built once per
/// deployment; an answer starts from a copy instead of hashing a dozen header names into a new
/// map (2 % of a request's instructions, callgrind).
pub(crate) fn answer_headers(model_group: &str, id: &str, provider: &str) -> http::HeaderMap {
    // Room for the rest of an answer's headers (content type, overhead, cost, counts, ids...):
    // the copies do not regrow and rehash on the way.
    let mut headers = http::HeaderMap::with_capacity(RESPONSE_HEADERS);
    for (value, names) in [
        (model_group, &[X_MODEL_GROUP, X_LITELLM_MODEL_GROUP][..]),
        (id, &[X_DEPLOYMENT, X_LITELLM_MODEL_ID][..]),
        (provider, &[X_PROVIDER][..]),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            for name in names {
                headers.insert(name.clone(), value.clone());
            }
        }
    }
    attempts_headers(&mut headers, 0, 0, None);
    headers
}

/// A retry or fallback count as a header value; the usual small ones without an allocation.
fn count_header(n: u32) -> HeaderValue {
    const SMALL: [HeaderValue; 10] = [
        HeaderValue::from_static("0"),
        HeaderValue::from_static("1"),
        HeaderValue::from_static("2"),
        HeaderValue::from_static("3"),
        HeaderValue::from_static("4"),
        HeaderValue::from_static("5"),
        HeaderValue::from_static("6"),
        HeaderValue::from_static("7"),
        HeaderValue::from_static("8"),
        HeaderValue::from_static("9"),
    ];
    match SMALL.get(n as usize) {
        Some(v) => v.clone(),
        None => HeaderValue::from(n),
    }
}

impl Gateway {
    /// Starts building a gateway for `config`.
    pub fn builder(config: Config) -> GatewayBuilder {
        GatewayBuilder::new(config)
    }

    /// Answers one HTTP request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<GatewayBody>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let started = Instant::now();
        let request_id = new_request_id();
        let caller_id = caller_request_id(&req);
        let mut labels = RequestLabels::new("other");
        let result = self.dispatch(req, &request_id, &mut labels, started).await;
        let mut response = match result {
            Ok(response) => response,
            Err(e) => {
                metrics::record_error(&labels, e.kind.as_str());
                error_response(&e)
            }
        };
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            let echoed = caller_id.clone().unwrap_or_else(|| v.clone());
            response.headers_mut().insert(X_LITELLM_CALL_ID, v);
            response.headers_mut().insert(X_REQUEST_ID, echoed);
        }
        if labels.route != "health" && labels.route != "metrics" {
            let elapsed = started.elapsed();
            metrics::record_request(&labels, response.status().as_u16(), elapsed);
            // Fields as `&str`, not `%` (Display): recorded as strings directly instead of being
            // formatted into a temporary `String` each (callgrind: 3 % of a request).
            tracing::info!(
                target: "switchyard::request",
                request_id = request_id.as_str(),
                caller_request_id = caller_id.as_ref().and_then(|v| v.to_str().ok()),
                route = labels.route,
                model_group = labels.model_group.as_str(),
                deployment = labels.deployment.as_str(),
                provider = labels.provider.as_str(),
                status = response.status().as_u16(),
                retries = labels.retries,
                fallbacks = labels.fallbacks,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                "request"
            );
        }
        response
    }

    async fn dispatch<B>(
        &self,
        req: Request<B>,
        request_id: &str,
        labels: &mut RequestLabels,
        started: Instant,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let route = match route(req.method(), req.uri().path()) {
            Ok(route) => route,
            Err(e) => {
                let path = req.uri().path();
                let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
                if let Some(provider) = self
                    .inner
                    .passthrough_providers
                    .iter()
                    .find(|p| p.as_str() == first)
                    .cloned()
                {
                    labels.route = "passthrough";
                    let principal = self.authenticate(&req).await?;
                    let (parts, body) = req.into_parts();
                    let body = self.read_body(body).await?;
                    let call = self.passthrough_call(&provider, &parts, body)?;
                    return self
                        .model_call(call, principal, request_id, labels, started)
                        .await;
                }
                return Err(e);
            }
        };
        match route {
            Route::Liveness => {
                labels.route = "health";
                Ok(json_response(
                    StatusCode::OK,
                    Bytes::from_static(b"\"I'm alive!\""),
                ))
            }
            Route::Readiness => {
                labels.route = "health";
                Ok(self.readiness())
            }
            Route::Metrics => {
                labels.route = "metrics";
                self.inner.live.load().engine.router().update_gauges();
                let text = self
                    .inner
                    .metrics
                    .as_ref()
                    .map(|render| render())
                    .unwrap_or_default();
                let mut response = Response::new(GatewayBody::full(text));
                response.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                Ok(response)
            }
            Route::Models => {
                labels.route = "models";
                let principal = self.authenticate(&req).await?;
                Ok(self.models(&principal))
            }
            Route::ChatCompletions
            | Route::Embeddings
            | Route::Completions
            | Route::Rerank
            | Route::Images
            | Route::AudioSpeech => {
                let endpoint = match route {
                    Route::Embeddings => "embeddings",
                    Route::Completions => "completions",
                    Route::Rerank => "rerank",
                    Route::Images => "images",
                    Route::AudioSpeech => "audio_speech",
                    _ => "chat",
                };
                labels.route = endpoint;
                let principal = self.authenticate(&req).await?;
                let body = self.read_body(req.into_body()).await?;
                let call = Call::json(endpoint, body)?;
                self.model_call(call, principal, request_id, labels, started)
                    .await
            }
            Route::Messages => {
                labels.route = "messages";
                let response = match self.messages(req, request_id, labels, started).await {
                    Ok(r) => r,
                    Err(e) => {
                        metrics::record_error(labels, e.kind.as_str());
                        error_response(&e)
                    }
                };
                Ok(self.in_anthropic_shape(response, labels).await)
            }
            Route::Responses => {
                labels.route = "responses";
                self.responses(req, request_id, labels, started).await
            }
            Route::ResponseItem(id) => {
                labels.route = "responses";
                self.response_item(req, &id).await
            }
            Route::AudioTranscriptions => {
                labels.route = "audio_transcriptions";
                let principal = self.authenticate(&req).await?;
                let (parts, body) = req.into_parts();
                let body = self.read_body(body).await?;
                let call = api::transcription_call(&parts.headers, body).await?;
                self.model_call(call, principal, request_id, labels, started)
                    .await
            }
            Route::CountTokens => {
                labels.route = "messages";
                self.authenticate(&req).await?;
                let body = self.read_body(req.into_body()).await?;
                Ok(json_response(
                    StatusCode::OK,
                    crate::messages::count_tokens(&body)?,
                ))
            }
            Route::ConfigReload => {
                labels.route = "admin";
                let principal = self.authenticate(&req).await?;
                if !principal.is_admin() {
                    return Err(GatewayError::new(
                        ErrorKind::Permission,
                        "reloading the config needs the master key or a proxy_admin key",
                    )
                    .with_code("not_admin"));
                }
                let warnings = self.reload_from_file().await.map_err(|e| {
                    GatewayError::invalid_request(
                        format!("config not reloaded (the running one stays): {e}"),
                        None,
                    )
                    .with_code("config_reload_failed")
                })?;
                let body = serde_json::json!({
                    "status": "reloaded",
                    "model_groups": self.inner.live.load().engine.group_names().len(),
                    "warnings": warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
                });
                Ok(json_response(
                    StatusCode::OK,
                    Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
                ))
            }
            Route::Admin(admin) => {
                labels.route = "admin";
                let principal = self.authenticate(&req).await?;
                let tenancy = self.require_tenancy()?;
                let path = req.uri().path().to_owned();
                let query = req.uri().query().unwrap_or("").to_owned();
                let body = self.read_body(req.into_body()).await?;
                let value = tenancy
                    .admin(&principal, admin, &path, &query, &body)
                    .await?;
                Ok(json_response(
                    StatusCode::OK,
                    Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
                ))
            }
        }
    }

    /// `/v1/messages`: the Messages request as an OpenAI chat request on the chat path.
    async fn messages<B>(
        &self,
        req: Request<B>,
        request_id: &str,
        labels: &mut RequestLabels,
        started: Instant,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let principal = self.authenticate(&req).await?;
        let body = self.read_body(req.into_body()).await?;
        // Anthropic deployments take the request as it is; any other provider gets it as chat.
        let (chat, _stream) = crate::messages::to_chat_request(&body)?;
        let mut call = Call::json("messages", body)?;
        call.alternate = Some(("chat", chat));
        // The translated stream needs the usage chunk for its `message_delta`.
        call.head.include_usage = call.head.stream;
        self.model_call(call, principal, request_id, labels, started)
            .await
    }

    /// An answer of the chat path in Anthropic's shapes: message JSON, Messages stream events,
    /// or an Anthropic error.
    async fn in_anthropic_shape(
        &self,
        response: Response<GatewayBody>,
        labels: &RequestLabels,
    ) -> Response<GatewayBody> {
        if response
            .extensions()
            .get::<ServedNatively>()
            .is_some_and(|n| n.0)
        {
            return response;
        }
        let (mut parts, body) = response.into_parts();
        let model = labels.model_group.clone();
        let streaming = parts
            .headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        if parts.status == StatusCode::OK && streaming {
            let mut translator = crate::messages::StreamTranslator::new(&model);
            let body = GatewayBody::mapped(
                body,
                crate::body::FrameMap(Box::new(move |frame| translator.feed(frame))),
            );
            return Response::from_parts(parts, body);
        }
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let out = if parts.status == StatusCode::OK {
            crate::messages::to_message(&bytes, &model)
        } else {
            crate::messages::to_error(&bytes, parts.status.as_u16())
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, GatewayBody::full(out))
    }

    fn tenancy_error(&self) -> Option<String> {
        self.inner
            .tenancy_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The tenancy service, or a 503 while its database is still opening.
    fn require_tenancy(&self) -> Result<&Arc<Tenancy>, GatewayError> {
        match (self.inner.tenancy.get(), &self.inner.tenancy_setup) {
            (Some(t), _) => Ok(t),
            (None, Some(_)) => Err(match self.tenancy_error() {
                Some(e) => GatewayError::new(
                    ErrorKind::Unavailable,
                    format!("the database is unavailable ({e}); retry shortly"),
                )
                .with_code("db_unavailable"),
                None => GatewayError::new(
                    ErrorKind::Unavailable,
                    "the database is starting (migrations running); retry shortly",
                )
                .with_code("db_starting"),
            }),
            (None, None) => Err(GatewayError::invalid_request(
                "keys, users and teams need general_settings.master_key",
                None,
            )
            .with_code("no_master_key")),
        }
    }

    /// Opens the tenancy database, runs its migrations and loads keys, users and teams. The
    /// host calls it after it started listening, so liveness answers meanwhile; requests that
    /// need it get a 503 until it is done. Does nothing without a master key.
    pub async fn start_tenancy(&self) -> Result<(), String> {
        let Some(setup) = &self.inner.tenancy_setup else {
            return Ok(());
        };
        let tenancy = Tenancy::start(
            setup.url.expose(),
            setup.secret.clone(),
            setup.clock_offset_ms,
            setup.access_groups.clone(),
            self.inner.shared.clone(),
            setup.budget_fail_mode,
        )
        .await
        .map_err(|e| e.replace(setup.url.expose(), "<database_url>"));
        let tenancy = match tenancy {
            Ok(t) => t,
            Err(e) => {
                *self
                    .inner
                    .tenancy_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
                return Err(e);
            }
        };
        tracing::info!(store = tenancy.store_kind(), "tenancy database ready");
        let _ = self.inner.tenancy.set(tenancy);
        Ok(())
    }

    /// Swaps in a new config's model list and router settings, atomically: requests already
    /// running finish on the old ones, the next request sees the new ones; cooldowns and load
    /// carry over. Keys, the database, the master key, the listener and plugins are not
    /// reloaded (they need a restart). On error the running config stays.
    pub async fn reload(&self, config: &Config) -> Result<Vec<ConfigWarning>, String> {
        let _one_at_a_time = self.inner.reloading.lock().await;
        let (live, warnings) = self.inner.rebuild.live(config)?;
        let groups = live.engine.group_names().len();
        self.inner.live.store(Arc::new(live));
        metrics::config_reloaded();
        tracing::info!(model_groups = groups, "config reloaded");
        Ok(warnings)
    }

    /// Reads the config file again ([`GatewayBuilder::config_path`]) and [`reload`]s it.
    ///
    /// [`reload`]: Gateway::reload
    pub async fn reload_from_file(&self) -> Result<Vec<ConfigWarning>, String> {
        let path = self
            .inner
            .config_path
            .as_ref()
            .ok_or("the gateway was not started from a config file: nothing to reload")?;
        let path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&path))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let mut warnings = loaded.warnings;
        warnings.extend(self.reload(&loaded.config).await?);
        Ok(warnings)
    }

    /// Writes every pending spend log (call at shutdown, after the last request).
    pub async fn flush(&self) {
        if let Some(t) = self.inner.tenancy.get() {
            t.flush().await;
        }
    }

    async fn authenticate<B>(&self, req: &Request<B>) -> Result<Principal, GatewayError> {
        let Some(master) = &self.inner.master_key else {
            return Ok(Principal::Open); // no master key configured: an open gateway, as LiteLLM
        };
        let presented = presented_key(req).ok_or_else(|| {
            GatewayError::authentication(
                "no API key provided: send 'Authorization: Bearer <key>' or an 'x-api-key' header",
            )
            .with_code("missing_api_key")
        })?;
        if constant_time_eq(presented.as_bytes(), master.expose().as_bytes()) {
            return Ok(Principal::Master);
        }
        let tenancy = self.require_tenancy()?;
        // Nothing of the request is held across the wait: its body need not be `Sync`.
        let (presented, path) = (presented.to_owned(), req.uri().path().to_owned());
        let key = tenancy.authenticate(&presented).await?;
        Tenancy::route_allowed(&key, &path)?;
        Ok(Principal::Key(key))
    }

    async fn read_body<B>(&self, body: B) -> Result<Bytes, GatewayError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let limit = self.inner.body_limit;
        let limited = http_body_util::Limited::new(body, limit);
        match limited.collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(GatewayError::invalid_request(
                    format!("request body exceeds {limit} bytes"),
                    None,
                )
                .with_status(413)
                .with_code("request_too_large"))
            }
            Err(e) => Err(GatewayError::invalid_request(
                format!("could not read the request body: {e}"),
                None,
            )),
        }
    }

    /// A call to a model on any endpoint (chat, embeddings, completions, Messages, Responses,
    /// rerank, images, audio, pass-through), through the same keys, budgets, fair-share queue,
    /// router, cost and metrics.
    async fn model_call(
        &self,
        call: Call,
        principal: Principal,
        request_id: &str,
        labels: &mut RequestLabels,
        started: Instant,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let Call {
            endpoint,
            head,
            body,
            content_type,
            passthrough,
            alternate,
            provider,
        } = call;
        // The config this request started with serves it to the end, whatever reloads happen.
        let live = self.inner.live.load_full();
        let resolved = live.engine.router().resolve(&head.model);
        labels.model_group = match &resolved {
            Some((group, _)) => group.clone(),
            None => String::new(),
        };
        let admission = match (&principal, self.inner.tenancy.get()) {
            (Principal::Key(key), Some(tenancy)) => {
                let (group, deployments) = match &resolved {
                    Some((g, d)) => (g.as_str(), &d[..]),
                    None => (head.model.as_str(), &[][..]),
                };
                let worst = worst_case_cost(deployments, body.len(), head.max_tokens);
                Some(tenancy.admit(key, &head.model, group, worst).await?)
            }
            _ => None,
        };
        let base64_embeddings = endpoint == "embeddings" && head.base64_embeddings;
        let input_characters = head.input_characters;
        let request = ChatRequest {
            request_id: request_id.to_owned(),
            endpoint,
            model: head.model,
            stream: head.stream,
            include_usage: head.include_usage,
            drop_params: head.drop_params,
            num_retries: head.num_retries,
            fallbacks: head.fallbacks,
            timeout: head
                .timeout
                .and_then(|t| Duration::try_from_secs_f64(t).ok()),
            client_credentials: head.client_credentials,
            body,
            content_type,
            passthrough,
            alternate,
            provider,
        };
        // A saturated group serves waiting keys in turn.
        let permit = match live.queues.get(&labels.model_group) {
            Some(queue) => {
                let who = match &principal {
                    Principal::Key(k) => k.key.id.clone(),
                    _ => "master".to_owned(),
                };
                Some(queue.acquire(&who, live.queue_timeout).await?)
            }
            None => None,
        };
        let tenancy = self.inner.tenancy.get().cloned();
        let spend = Some(Charge {
            permit,
            start_ms: tenancy
                .as_ref()
                .map(|t| t.now_ms())
                .unwrap_or(crate::router::unix_ms() as i64),
            tenancy,
            admission,
            request_id: request_id.to_owned(),
            prompt_estimate: (request.body.len() / 4) as u64,
        });
        match live.engine.chat(&request).await {
            Ok(mut served) => {
                labels.provider = served.deployment.provider.clone();
                labels.model_group = served.deployment.model_group.clone();
                labels.deployment = served.deployment.id.clone();
                labels.retries = served.retries;
                labels.fallbacks = served.fallbacks;
                // Only requests with a translated form need to know which form answered (and
                // the extension map costs an allocation on every chat answer otherwise).
                let native = request
                    .alternate
                    .is_some()
                    .then(|| ServedNatively(served.deployment.serves(endpoint)));
                if let ChatAnswer::Complete { body, info } = &mut served.answer {
                    if input_characters > 0 {
                        // Speech is billed by the characters sent; only the host saw them.
                        info.usage
                            .get_or_insert_with(Default::default)
                            .input_characters = input_characters;
                    }
                    if base64_embeddings {
                        *body = api::embeddings_as_base64(body);
                    }
                }
                let mut response = self.respond(served, labels, started, spend);
                if let Some(native) = native {
                    response.extensions_mut().insert(native);
                }
                Ok(response)
            }
            Err(Failed {
                error,
                retries,
                fallbacks,
            }) => {
                if let Some(p) = &error.origin.provider {
                    labels.provider = p.clone();
                }
                labels.retries = retries;
                labels.fallbacks = fallbacks;
                metrics::record_error(labels, error.kind.as_str());
                let mut response = error_response(&error);
                attempts_headers(response.headers_mut(), retries, fallbacks, None);
                Ok(response)
            }
        }
    }

    fn respond(
        &self,
        served: Served,
        labels: &RequestLabels,
        started: Instant,
        spend: Option<Charge>,
    ) -> Response<GatewayBody> {
        let Served {
            answer,
            deployment,
            upstream_time,
            retries,
            fallbacks,
            max_retries,
            in_flight,
        } = served;
        let overhead = started.elapsed().saturating_sub(upstream_time);
        metrics::record_upstream(
            &deployment.id,
            &deployment.provider,
            upstream_time,
            overhead,
        );
        let mut response = match answer {
            ChatAnswer::Complete { body, info } => {
                if let Some(usage) = &info.usage {
                    metrics::record_usage(labels, usage);
                    in_flight.add_tokens(usage.prompt_tokens + usage.completion_tokens);
                }
                drop(in_flight);
                let cost = spend.map(|c| c.settle(&deployment, &info, 0, "success"));
                let mut response =
                    json_response_with(StatusCode::OK, body, deployment.answer_headers.clone());
                if let Some(v) = info
                    .content_type
                    .as_deref()
                    .and_then(|t| HeaderValue::from_str(t).ok())
                {
                    response.headers_mut().insert(CONTENT_TYPE, v);
                }
                if let Some(cost) = cost.and_then(|c| HeaderValue::from_str(&usd_text(c)).ok()) {
                    response.headers_mut().insert(X_COST, cost.clone());
                    response.headers_mut().insert(X_LITELLM_COST, cost);
                }
                response
            }
            ChatAnswer::Stream { first, mut rest } => {
                let labels = labels.clone();
                let served_by = deployment.clone();
                rest.observe(Box::new(move |end: StreamEnd| {
                    if let Some(usage) = &end.info.usage {
                        metrics::record_usage(&labels, usage);
                        in_flight.add_tokens(usage.prompt_tokens + usage.completion_tokens);
                    }
                    // The request stops counting as in flight when its stream ends.
                    drop(in_flight);
                    if let Some(charge) = spend {
                        let status = match &end.outcome {
                            StreamOutcome::Completed => "success",
                            StreamOutcome::Failed(_) => "failure",
                            StreamOutcome::ClientDisconnected => "client_disconnected",
                        };
                        charge.settle(&served_by, &end.info, end.chunks, status);
                    }
                    let outcome = match &end.outcome {
                        StreamOutcome::Completed => "completed",
                        StreamOutcome::Failed(e) => {
                            metrics::record_error(&labels, e.kind.as_str());
                            "failed"
                        }
                        StreamOutcome::ClientDisconnected => "client_disconnected",
                    };
                    metrics::record_stream_end(&labels, outcome);
                }));
                let mut response = Response::new(GatewayBody::stream(first, rest));
                *response.headers_mut() = deployment.answer_headers.clone();
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
                response
            }
        };
        let headers = response.headers_mut();
        let overhead = ms_header(overhead);
        headers.insert(X_OVERHEAD, overhead.clone());
        headers.insert(X_LITELLM_OVERHEAD, overhead);
        if retries == 0 && fallbacks == 0 {
            // The zero counts are in the deployment's answer headers already (writing them
            // again cost 1.8 k instructions a request, callgrind).
            headers.insert(X_LITELLM_MAX_RETRIES, count_header(max_retries));
        } else {
            attempts_headers(headers, retries, fallbacks, Some(max_retries));
        }
        response
    }

    fn models(&self, principal: &Principal) -> Response<GatewayBody> {
        let allowed = match (principal, self.inner.tenancy.get()) {
            (Principal::Key(key), Some(t)) => t.allowed_models(key),
            _ => None,
        };
        #[derive(Serialize)]
        struct Model<'a> {
            id: &'a str,
            object: &'static str,
            created: u64,
            owned_by: &'static str,
        }
        #[derive(Serialize)]
        struct List<'a> {
            object: &'static str,
            data: Vec<Model<'a>>,
        }
        let live = self.inner.live.load();
        let list = List {
            object: "list",
            data: live
                .engine
                .group_names()
                .iter()
                .filter(|name| allowed.as_ref().is_none_or(|a| a.contains(name)))
                .map(|name| Model {
                    id: name,
                    object: "model",
                    created: 0,
                    owned_by: "switchyard",
                })
                .collect(),
        };
        json_response(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
        )
    }

    fn readiness(&self) -> Response<GatewayBody> {
        #[derive(Serialize)]
        struct Readiness<'a> {
            status: &'static str,
            db: &'static str,
            switchyard_version: &'static str,
            model_groups: usize,
            /// When the serving config was loaded (RFC 3339): a reload shows here.
            config_loaded_at: String,
            plugins: &'a [PluginSummary],
            #[serde(skip_serializing_if = "Option::is_none")]
            shared_state: Option<crate::shared::SharedStatus>,
        }
        let live = self.inner.live.load();
        let body = Readiness {
            status: "healthy",
            db: match (self.inner.tenancy.get(), &self.inner.tenancy_setup) {
                (Some(_), _) => "connected",
                (None, Some(_)) if self.tenancy_error().is_some() => "unavailable",
                (None, Some(_)) => "starting",
                (None, None) => "Not connected",
            },
            switchyard_version: env!("CARGO_PKG_VERSION"),
            model_groups: live.engine.group_names().len(),
            config_loaded_at: crate::tenancy::budget::rfc3339(live.loaded_at_ms as i64),
            plugins: &self.inner.plugins,
            shared_state: self.inner.shared.as_ref().map(|s| s.status()),
        };
        json_response(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        )
    }
}

/// `x-switchyard-attempted-retries` / `-fallbacks` and their LiteLLM names.
fn attempts_headers(
    headers: &mut http::HeaderMap,
    retries: u32,
    fallbacks: u32,
    max_retries: Option<u32>,
) {
    let retries = count_header(retries);
    let fallbacks = count_header(fallbacks);
    headers.insert(X_RETRIES, retries.clone());
    headers.insert(X_LITELLM_RETRIES, retries);
    headers.insert(X_FALLBACKS, fallbacks.clone());
    headers.insert(X_LITELLM_FALLBACKS, fallbacks);
    if let Some(max) = max_retries {
        headers.insert(X_LITELLM_MAX_RETRIES, count_header(max));
    }
}

/// What a request may cost at most, nano-dollars: its prompt (estimated generously, bytes / 3)
/// at the highest input price of the group, plus its `max_tokens` (else the model's maximum
/// output) at the highest output price.
fn worst_case_cost(
    deployments: &[Arc<crate::registry::Deployment>],
    body_len: usize,
    asked: Option<u64>,
) -> i64 {
    let prompt = (body_len / 3) as u64;
    deployments
        .iter()
        .map(|d| {
            let out = asked
                .or(d.max_output_tokens)
                .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
            d.prices
                .map(|p| nanos_of(p.worst_case(prompt, out)))
                .unwrap_or(0)
        })
        .max()
        .unwrap_or(0)
}

/// A request's charge: settled once, when its answer is complete or its stream ends.
struct Charge {
    /// The group's fair-share slot, held until the answer is complete.
    permit: Option<Permit>,
    /// Absent without a master key: the deployment's budget is still charged.
    tenancy: Option<Arc<Tenancy>>,
    admission: Option<Admission>,
    request_id: String,
    start_ms: i64,
    /// Prompt tokens assumed when a stream ended before reporting usage.
    prompt_estimate: u64,
}

impl Charge {
    /// Charges the actual cost; returns it (nano-dollars).
    fn settle(
        self,
        deployment: &crate::registry::Deployment,
        info: &switchyard_plugin_sdk::ResponseInfo,
        chunks: u64,
        status: &str,
    ) -> i64 {
        // A stream cut off before its usage chunk is charged for its prompt and for one token
        // per chunk received.
        let usage = info.usage.unwrap_or(switchyard_plugin_sdk::Usage {
            prompt_tokens: self.prompt_estimate,
            completion_tokens: chunks,
            total_tokens: self.prompt_estimate + chunks,
            ..Default::default()
        });
        drop(self.permit);
        let cost = deployment
            .prices
            .map(|p| nanos_of(p.cost(&usage)))
            .unwrap_or(0);
        if let Some(budget) = &deployment.budget {
            budget.spent.settle(0, cost);
        }
        let Some(tenancy) = self.tenancy else {
            return cost;
        };
        let principal = self.admission.as_ref().map(|a| a.principal().clone());
        let log = switchyard_store::SpendLog {
            request_id: self.request_id,
            token_hash: principal.as_ref().map(|p| p.key.id.clone()),
            user_id: principal
                .as_ref()
                .and_then(|p| p.key.read().user_id.clone()),
            team_id: principal
                .as_ref()
                .and_then(|p| p.key.read().team_id.clone()),
            model_group: deployment.model_group.clone(),
            model: deployment.upstream_model.clone(),
            deployment: deployment.id.clone(),
            provider: deployment.provider.clone(),
            spend_nanos: cost,
            prompt_tokens: usage.prompt_tokens as i64,
            completion_tokens: usage.completion_tokens as i64,
            status: status.to_owned(),
            start_time: self.start_ms,
            end_time: tenancy.now_ms(),
        };
        let tokens = usage.prompt_tokens + usage.completion_tokens;
        match self.admission {
            Some(admission) => tenancy.settle(admission, cost, tokens, log),
            None => tenancy.log_spend(log),
        }
        cost
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<GatewayBody> {
    // Room for the gateway's headers (model group, deployment, cost, retries, ids... in both
    // spellings): the map does not regrow and rehash on the way.
    json_response_with(
        status,
        body,
        http::HeaderMap::with_capacity(RESPONSE_HEADERS),
    )
}

/// [`json_response`] starting from `headers` (a deployment's answer headers).
fn json_response_with(
    status: StatusCode,
    body: Bytes,
    mut headers: http::HeaderMap,
) -> Response<GatewayBody> {
    headers.insert(CONTENT_TYPE, APPLICATION_JSON);
    let mut response = Response::new(GatewayBody::full(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Headers a gateway answer carries, at most.
const RESPONSE_HEADERS: usize = 24;

/// The OpenAI-format error response for `e`.
pub fn error_response(e: &GatewayError) -> Response<GatewayBody> {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, e.to_json_body());
    if let Some(ms) = e.retry_after_ms {
        let secs = ms.div_ceil(1000).max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            response.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_become_milliseconds_with_three_decimals() {
        for (micros, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (412, "0.412"),
            (1_000, "1.000"),
            (12_345_678, "12345.678"),
        ] {
            assert_eq!(ms_header(Duration::from_micros(micros)), text);
        }
        assert_eq!(ms_header(Duration::from_nanos(999)), "0.000");
    }

    #[test]
    fn counts_become_header_values() {
        for n in [0, 1, 9, 10, 4_000_000_000] {
            assert_eq!(count_header(n), n.to_string().as_str());
        }
    }

    #[test]
    fn request_ids_are_unique_and_sort_by_time() {
        let first = new_request_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let (a, b) = (new_request_id(), new_request_id());
        for id in [&first, &a, &b] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
        }
        assert!(first < a && first < b, "{first} {a} {b}");
        assert_ne!(a, b);
    }

    #[test]
    fn routes_accept_unversioned_aliases_and_reject_wrong_methods() {
        assert!(matches!(
            route(&Method::POST, "/chat/completions"),
            Ok(Route::ChatCompletions)
        ));
        assert!(matches!(
            route(&Method::POST, "/v1/chat/completions/"),
            Ok(Route::ChatCompletions)
        ));
        assert!(matches!(route(&Method::GET, "/models"), Ok(Route::Models)));
        assert_eq!(
            route(&Method::GET, "/v1/chat/completions")
                .err()
                .unwrap()
                .status,
            405
        );
        assert_eq!(route(&Method::GET, "/nope").err().unwrap().status, 404);
    }

    #[test]
    fn keys_compare_exactly() {
        assert!(constant_time_eq(b"sk-abc", b"sk-abc"));
        assert!(!constant_time_eq(b"sk-abc", b"sk-abd"));
        assert!(!constant_time_eq(b"sk-abc", b"sk-ab"));
    }
}
