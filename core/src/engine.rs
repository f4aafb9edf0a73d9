//! Executes one request: pick a deployment → the plugin builds the upstream request → the
//! transport sends it → the plugin parses or decodes the answer → classify.
//!
//! Stream commit point (DESIGN.md): a streaming answer is returned only once its first good
//! chunk has arrived, so every failure before it is an ordinary error the caller can retry or
//! turn into a JSON error response with the right status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use bytes::Bytes;
use futures_util::StreamExt;
use switchyard_plugin_sdk::{ErrorKind, RequestContext, ResponseInfo};
use tokio::time::Instant;

use crate::config::Config;
use crate::error::{ErrorOrigin, GatewayError};
use crate::registry::{
    build_deployment, Defaults, Deployment, Deployments, PluginEnv, ProviderRegistry, Wildcard,
};
use crate::router::{
    unix_ms, AttemptInfo, InFlight, PerClass, RouteFailure, RouteRequest, Router, RouterPolicy,
    RoutingStrategy,
};
use crate::stream::ChatStream;
use crate::transport::{read_to_end, Transport, TransportError};
use crate::types::ClientCredentials;

/// Largest upstream body read for a non-stream answer.
const MAX_UPSTREAM_BODY: usize = 64 * 1024 * 1024;

/// A validated chat request.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    pub request_id: String,
    /// Endpoint id: `chat`, `embeddings`, `completions`.
    pub endpoint: &'static str,
    /// The model group the client asked for.
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Per-request `drop_params`.
    pub drop_params: Option<bool>,
    /// Per-request `num_retries`.
    pub num_retries: Option<u32>,
    /// Per-request `fallbacks`.
    pub fallbacks: Option<Vec<String>>,
    /// Per-request `timeout` (whole request, retries included).
    pub timeout: Option<Duration>,
    /// Client-side `api_base`/`api_key`/`api_version`, parsed once with the head.
    pub client_credentials: ClientCredentials,
    /// The client's body, untouched.
    pub body: Bytes,
    /// The client's content type when the body is not JSON (multipart audio uploads).
    pub content_type: Option<String>,
    /// Method and path of a provider pass-through request.
    pub passthrough: Option<switchyard_plugin_sdk::Passthrough>,
    /// The same request for deployments whose plugin does not serve `endpoint` (a Messages
    /// or Responses request translated to chat), with its endpoint id.
    pub alternate: Option<(&'static str, Bytes)>,
    /// Only deployments of this provider may serve it (pass-through routes).
    pub provider: Option<String>,
}

impl ChatRequest {
    /// The endpoint ids a deployment may serve this request on, preferred first.
    fn endpoints(&self) -> ([&'static str; 2], usize) {
        match &self.alternate {
            Some((alt, _)) => ([self.endpoint, alt], 2),
            None => ([self.endpoint, self.endpoint], 1),
        }
    }
}

/// A successful answer.
#[derive(Debug)]
pub(crate) enum ChatAnswer {
    Complete {
        body: Bytes,
        info: ResponseInfo,
    },
    /// Committed: the first chunk is in hand, the rest follows.
    Stream {
        first: Bytes,
        rest: Box<ChatStream>,
    },
}

/// An answer and who served it.
#[derive(Debug)]
pub(crate) struct Served {
    pub answer: ChatAnswer,
    pub deployment: Arc<Deployment>,
    /// Time spent waiting on upstreams (to the whole body, or to the first chunk), all attempts.
    pub upstream_time: Duration,
    pub retries: u32,
    pub fallbacks: u32,
    pub max_retries: u32,
    /// Counts the request as in flight on its deployment until dropped.
    pub in_flight: InFlight,
}

/// A failed request, with what was tried.
#[derive(Debug)]
pub(crate) struct Failed {
    pub error: GatewayError,
    pub retries: u32,
    pub fallbacks: u32,
}

impl From<GatewayError> for Failed {
    fn from(error: GatewayError) -> Self {
        Failed {
            error,
            retries: 0,
            fallbacks: 0,
        }
    }
}

/// Runs requests against the configured deployments.
#[derive(Debug)]
pub(crate) struct Engine {
    transport: Transport,
    router: Router<Deployment>,
    /// Configured group names, in config order (for `/v1/models`).
    group_names: Vec<String>,
    /// Global `drop_params`.
    drop_params: bool,
    /// Bodies at least this long get their prompt tokens estimated for the context-window
    /// pre-call check (shorter ones cannot exceed any configured window).
    estimate_from_bytes: usize,
}

fn origin_of(d: &Deployment) -> Arc<ErrorOrigin> {
    d.origin.clone()
}

fn transport_error(e: TransportError, origin: &Arc<ErrorOrigin>) -> GatewayError {
    let (kind, status) = match e {
        TransportError::InvalidRequest(_) => (ErrorKind::Internal, 500),
        TransportError::Connect(_) => (ErrorKind::Unavailable, 502),
        TransportError::Io(_) => (ErrorKind::Unavailable, 502),
    };
    GatewayError::new(kind, e.to_string())
        .with_status(status)
        .with_origin(origin.clone())
}

fn timeout_error(what: &str, limit: Duration, origin: &Arc<ErrorOrigin>) -> GatewayError {
    GatewayError::new(
        ErrorKind::Timeout,
        format!("upstream did not {what} within {:.1}s", limit.as_secs_f64()),
    )
    .with_code("timeout")
    .with_origin(origin.clone())
}

fn seconds(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO)
}

fn per_class(map: &std::collections::BTreeMap<String, u32>, suffix: &str) -> PerClass {
    // Keys were checked when the config was read.
    PerClass::from_litellm(map.iter().map(|(k, v)| (k.as_str(), *v)), suffix).unwrap_or_default()
}

fn fallback_map(
    lists: &[&crate::config::FallbackList],
) -> std::collections::HashMap<String, Vec<String>> {
    let mut out = std::collections::HashMap::new();
    for list in lists {
        for entry in list.iter() {
            for (group, targets) in entry {
                out.entry(group.clone())
                    .or_insert_with(Vec::new)
                    .extend(targets.iter().cloned());
            }
        }
    }
    out
}

/// The router policy a config describes (`router_settings`, with `litellm_settings` for the
/// keys LiteLLM also reads from there).
pub(crate) fn policy_from_config(config: &Config) -> RouterPolicy {
    let r = &config.router_settings;
    let l = &config.litellm_settings;
    let defaults = RouterPolicy::default();
    let mut fallbacks = fallback_map(&[&r.fallbacks, &l.fallbacks]);
    let mut default_fallbacks = if r.default_fallbacks.is_empty() {
        l.default_fallbacks.clone()
    } else {
        r.default_fallbacks.clone()
    };
    // LiteLLM's `{"*": [...]}` entry is the default for every group.
    if let Some(any) = fallbacks.remove("*") {
        if default_fallbacks.is_empty() {
            default_fallbacks = any;
        }
    }
    RouterPolicy {
        strategy: r
            .routing_strategy
            .as_deref()
            .and_then(RoutingStrategy::parse)
            .unwrap_or_default(),
        num_retries: r
            .num_retries
            .or(l.num_retries)
            .unwrap_or(defaults.num_retries),
        group_num_retries: Default::default(),
        retry_policy: per_class(&r.retry_policy, "Retries"),
        group_retry_policy: r
            .model_group_retry_policy
            .iter()
            .map(|(g, p)| (g.clone(), per_class(p, "Retries")))
            .collect(),
        allowed_fails: r
            .allowed_fails
            .or(l.allowed_fails)
            .unwrap_or(defaults.allowed_fails),
        allowed_fails_policy: per_class(&r.allowed_fails_policy, "AllowedFails"),
        cooldown_time: r
            .cooldown_time
            .map(seconds)
            .unwrap_or(defaults.cooldown_time),
        disable_cooldowns: r.disable_cooldowns,
        retry_after: r.retry_after.map(seconds).unwrap_or(defaults.retry_after),
        max_retry_wait: r
            .max_retry_wait
            .map(seconds)
            .unwrap_or(defaults.max_retry_wait),
        wait_before_fallback: r
            .wait_before_fallback
            .map(seconds)
            .unwrap_or(defaults.wait_before_fallback),
        fallbacks,
        context_window_fallbacks: fallback_map(&[
            &r.context_window_fallbacks,
            &l.context_window_fallbacks,
        ]),
        content_policy_fallbacks: fallback_map(&[
            &r.content_policy_fallbacks,
            &l.content_policy_fallbacks,
        ]),
        default_fallbacks,
        max_fallbacks: r
            .max_fallbacks
            .or(l.max_fallbacks)
            .map(|n| n as usize)
            .unwrap_or(defaults.max_fallbacks),
    }
}

/// Estimated prompt tokens of a chat body: characters of the message texts / 4 (+ 4 per
/// message), the usual rule of thumb for English with BPE tokenizers.
fn estimate_prompt_tokens(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Body {
        messages: Vec<serde_json::Value>,
    }
    fn chars(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.chars().count(),
            serde_json::Value::Array(items) => items.iter().map(chars).sum(),
            serde_json::Value::Object(m) => m
                .iter()
                .filter(|(k, _)| k.as_str() != "image_url")
                .map(|(_, v)| chars(v))
                .sum(),
            _ => 0,
        }
    }
    let body: Body = serde_json::from_slice(body).ok()?;
    let total: usize = body.messages.iter().map(|m| chars(m) / 4 + 4).sum();
    Some(total as u64)
}

impl Engine {
    /// Builds the deployments and the router of `config`.
    pub(crate) fn build(
        config: &Config,
        registry: ProviderRegistry,
        env: PluginEnv,
        transport: Transport,
        state: Arc<dyn crate::router::RouterState>,
    ) -> Result<(Engine, Vec<crate::config::ConfigWarning>), String> {
        let (deployments, warnings) = crate::registry::build_deployments(config, &registry, &env)?;
        let Deployments { groups, wildcards } = deployments;
        let policy = policy_from_config(config);
        let smallest_window = groups
            .iter()
            .flat_map(|g| g.deployments.iter())
            .filter_map(|d| d.context_window)
            .min();
        let group_names: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
        let defaults = Defaults::from_config(config);
        let mut warnings = warnings;
        // Fallback targets written as `provider/model` get a deployment of their own, with the
        // provider's defaults and credentials from the environment. (Only targets from the
        // config: a client's per-request fallbacks cannot reach unconfigured models.)
        let mut extra_groups = Vec::new();
        let aliases = &config.router_settings.model_group_alias;
        let targets = policy
            .fallbacks
            .values()
            .chain(policy.context_window_fallbacks.values())
            .chain(policy.content_policy_fallbacks.values())
            .flatten()
            .chain(policy.default_fallbacks.iter());
        for target in targets {
            let known = group_names.contains(target)
                || aliases.contains_key(target)
                || extra_groups.iter().any(|(n, _)| n == target)
                || wildcards.iter().any(|w| w.model_for(target).is_some());
            if known {
                continue;
            }
            match provider_model_deployments(target, &registry, &env, &defaults) {
                Some(d) => extra_groups.push((target.clone(), d)),
                None => warnings.push(crate::config::ConfigWarning {
                    path: "router_settings.fallbacks".to_owned(),
                    message: format!(
                        "fallback '{target}' is neither a model group, an alias, nor a \
                         provider/model string a loaded plugin serves: it will be skipped"
                    ),
                }),
            }
        }
        let mut router = Router::new(policy, state);
        for group in groups {
            router = router.group(group.name, group.deployments);
        }
        for (name, deployments) in extra_groups {
            router = router.group(name, deployments);
        }
        for (alias, group) in aliases {
            router = router.alias(alias.clone(), group.clone());
        }
        let registry = Arc::new(registry);
        let wildcards = Arc::new(wildcards);
        router = router.resolver(Box::new(move |name: &str| {
            resolve_on_demand(name, &registry, &env, &defaults, &wildcards)
        }));
        Ok((
            Engine {
                transport,
                router,
                group_names,
                drop_params: config.litellm_settings.drop_params,
                estimate_from_bytes: smallest_window
                    .map(|w| usize::try_from(w.saturating_mul(4)).unwrap_or(usize::MAX))
                    .unwrap_or(usize::MAX),
            },
            warnings,
        ))
    }

    pub(crate) fn group_names(&self) -> &[String] {
        &self.group_names
    }

    /// The model group a pass-through request to `provider` goes to: `hint` (the body's
    /// `model`) when that group has a deployment of the provider serving pass-through, else the
    /// first such group in config order.
    pub(crate) fn passthrough_group(&self, provider: &str, hint: Option<&str>) -> Option<String> {
        let fits = |name: &str| {
            self.router.resolve(name).is_some_and(|(_, deployments)| {
                deployments
                    .iter()
                    .any(|d| d.provider == provider && d.serves("passthrough"))
            })
        };
        if let Some(h) = hint.filter(|h| fits(h)) {
            return Some(h.to_owned());
        }
        self.group_names.iter().find(|g| fits(g)).cloned()
    }

    pub(crate) fn router(&self) -> &Router<Deployment> {
        &self.router
    }

    /// Answers a chat request: routed, retried and fallen back as configured.
    pub(crate) async fn chat(&self, request: &ChatRequest) -> Result<Served, Failed> {
        let started = StdInstant::now();
        let prompt_tokens = if request.body.len() >= self.estimate_from_bytes {
            estimate_prompt_tokens(&request.body)
        } else {
            None
        };
        let (endpoints, n) = request.endpoints();
        let route = RouteRequest {
            endpoints: &endpoints[..n],
            provider: request.provider.as_deref(),
            model: &request.model,
            stream: request.stream,
            num_retries: request.num_retries,
            fallbacks: request.fallbacks.as_deref(),
            prompt_tokens,
            deadline: request.timeout.map(|t| started + t),
        };
        let upstream_total = std::sync::Mutex::new(Duration::ZERO);
        let routed = self
            .router
            .route(&route, |deployment, info| {
                let upstream_total = &upstream_total;
                async move {
                    let (answer, upstream_time) = self
                        .attempt(deployment, request, info, route.deadline)
                        .await?;
                    *upstream_total.lock().unwrap_or_else(|p| p.into_inner()) += upstream_time;
                    Ok(answer)
                }
            })
            .await
            .map_err(
                |RouteFailure {
                     error,
                     retries,
                     fallbacks,
                 }| Failed {
                    error,
                    retries,
                    fallbacks,
                },
            )?;
        let upstream_time = *upstream_total.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Served {
            answer: routed.value,
            deployment: routed.target,
            upstream_time,
            retries: routed.retries,
            fallbacks: routed.fallbacks,
            max_retries: routed.max_retries,
            in_flight: routed.in_flight,
        })
    }

    /// One upstream call on `deployment`. Returns the answer and the time spent waiting on the
    /// upstream.
    async fn attempt(
        &self,
        deployment: Arc<Deployment>,
        request: &ChatRequest,
        info: AttemptInfo,
        request_deadline: Option<StdInstant>,
    ) -> Result<(ChatAnswer, Duration), GatewayError> {
        let origin = origin_of(&deployment);
        let drop_params = request
            .drop_params
            .or(deployment.params.drop_params)
            .unwrap_or(self.drop_params);
        // The router only picks deployments serving one of the request's endpoints.
        let (endpoint, body) = match &request.alternate {
            Some((alt, body)) if !deployment.serves(request.endpoint) => (*alt, body),
            _ => (request.endpoint, &request.body),
        };
        // Capability rules are about chat parameters.
        let body = if endpoint == "chat" {
            deployment.params.apply(body, drop_params)?
        } else {
            body.clone()
        };
        let auth_token = match &deployment.auth {
            Some(cache) => cache
                .token(&deployment.instance, &self.transport, &origin)
                .await?
                .map(|t| t.to_string()),
            None => None,
        };
        let context = RequestContext {
            request_id: request.request_id.clone(),
            attempt: info.number,
            now_unix_ms: unix_ms(),
            stream: request.stream,
            include_usage: request.include_usage,
            drop_params,
            endpoint: endpoint.to_owned(),
            auth_token,
            content_type: request.content_type.clone(),
            passthrough: request.passthrough.clone(),
        };
        let overridden = client_override_instance(&deployment, &request.client_credentials)?;
        let instance = overridden.as_ref().unwrap_or(&deployment.instance);
        let upstream_request = instance
            .build_request(endpoint, &body, &context)
            .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;

        let started = Instant::now();
        let mut limit = if request.stream {
            deployment.ttft_timeout
        } else {
            deployment.timeout
        };
        if let Some(d) = request_deadline {
            limit = limit.min(d.saturating_duration_since(StdInstant::now()));
        }
        let deadline = started + limit;
        let mut response =
            match tokio::time::timeout_at(deadline, self.transport.send(upstream_request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => return Err(transport_error(e, &origin)),
                Err(_) => return Err(timeout_error("answer", limit, &origin)),
            };

        if endpoint != "chat" {
            // Tells a plugin serving several endpoints what it is reading.
            response.head.headers.push((
                switchyard_plugin_sdk::ENDPOINT_HEADER.to_owned(),
                endpoint.to_owned(),
            ));
        }
        if !(200..300).contains(&response.head.status) {
            let body = match tokio::time::timeout_at(
                deadline,
                read_to_end(response.body, MAX_UPSTREAM_BODY),
            )
            .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(_)) | Err(_) => Bytes::new(),
            };
            let e = instance.classify_error(&response.head, &body);
            if e.kind == ErrorKind::Authentication {
                // A revoked or expired token: fetch a new one next time.
                if let Some(cache) = &deployment.auth {
                    cache.invalidate();
                }
            }
            return Err(GatewayError::from_provider(e, origin));
        }

        if !request.stream {
            let body = match tokio::time::timeout_at(
                deadline,
                read_to_end(response.body, MAX_UPSTREAM_BODY),
            )
            .await
            {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => return Err(transport_error(e, &origin)),
                Err(_) => return Err(timeout_error("answer", limit, &origin)),
            };
            let upstream_time = started.elapsed();
            let parsed = instance
                .parse_response(&response.head, &body)
                .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;
            return Ok((
                ChatAnswer::Complete {
                    body: Bytes::from(parsed.body),
                    info: parsed.info,
                },
                upstream_time,
            ));
        }

        let decoder = instance
            .stream_decoder(&context)
            .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;
        let mut stream = Box::new(ChatStream::new(
            response.body,
            decoder,
            deadline,
            deployment.stream_idle_timeout,
            origin,
            crate::stream::Framing::of(endpoint),
        ));
        let first = match stream.next().await {
            Some(Ok(first)) => first,
            Some(Err(e)) => return Err(e),
            None => Bytes::new(),
        };
        Ok((
            ChatAnswer::Stream {
                first,
                rest: stream,
            },
            started.elapsed(),
        ))
    }
}

/// A per-request provider instance when the body carries client-side `api_base`/`api_key`/
/// `api_version` the deployment allows (`configurable_clientside_auth_params`); a 400 naming
/// the member when it does not allow them; `None` when there are none.
fn client_override_instance(
    deployment: &Deployment,
    given: &ClientCredentials,
) -> Result<Option<switchyard_plugin_sdk::host::ProviderInstance>, GatewayError> {
    if given.is_empty() {
        return Ok(None);
    }
    let Some(overrides) = &deployment.client_overrides else {
        let (param, _) = given.0[0];
        return Err(GatewayError::invalid_request(
            format!(
                "'{param}' cannot be set by the client for model group '{}' (allow it with \
                 litellm_params.configurable_clientside_auth_params)",
                deployment.model_group
            ),
            Some(param),
        )
        .with_code("client_override_not_allowed"));
    };
    let mut config = overrides.config.clone();
    for (param, value) in &given.0 {
        let param = *param;
        let value = value.expose();
        if !overrides.allowed.iter().any(|a| a == param) {
            return Err(GatewayError::invalid_request(
                format!(
                    "'{param}' cannot be set by the client for model group '{}'",
                    deployment.model_group
                ),
                Some(param),
            )
            .with_code("client_override_not_allowed"));
        }
        match param {
            "api_base" | "base_url" => config.api_base = Some(value.to_owned()),
            "api_key" => config.api_key = Some(value.to_owned()),
            _ => config.api_version = Some(value.to_owned()),
        }
    }
    overrides
        .plugin
        .instantiate(&config)
        .map(Some)
        .map_err(|e| GatewayError::from_provider(e, deployment.origin.clone()))
}

/// Deployments for a name that is not a configured group: from the first wildcard entry that
/// matches it.
fn resolve_on_demand(
    name: &str,
    registry: &ProviderRegistry,
    env: &PluginEnv,
    defaults: &Defaults,
    wildcards: &[Wildcard],
) -> Option<Vec<Arc<Deployment>>> {
    let mut warnings = Vec::new();
    for w in wildcards {
        if let Some(model) = w.model_for(name) {
            let path = format!("model_list[{}]", w.index);
            match build_deployment(
                registry,
                env,
                defaults,
                &w.params,
                &BTreeMap::new(),
                &model,
                name,
                name.to_owned(),
                &path,
                &mut warnings,
            ) {
                Ok(d) => return Some(vec![Arc::new(d)]),
                Err(e) => {
                    tracing::debug!(model = name, error = %e, "wildcard entry cannot serve this model");
                    continue;
                }
            }
        }
    }
    None
}

/// A deployment for a `provider/model` fallback target with the provider's defaults.
pub(crate) fn provider_model_deployments(
    name: &str,
    registry: &ProviderRegistry,
    env: &PluginEnv,
    defaults: &Defaults,
) -> Option<Vec<Arc<Deployment>>> {
    crate::registry::split_model_string(name)?;
    let params = crate::config::LitellmParams {
        model: name.to_owned(),
        ..Default::default()
    };
    let mut warnings = Vec::new();
    build_deployment(
        registry,
        env,
        defaults,
        &params,
        &BTreeMap::new(),
        name,
        name,
        name.to_owned(),
        name,
        &mut warnings,
    )
    .ok()
    .map(|d| vec![Arc::new(d)])
}
