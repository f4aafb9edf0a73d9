//! # switchyard-provider-bedrock
//!
//! AWS Bedrock behind the OpenAI chat API, through the Converse API: `bedrock/<model-id>` and
//! `bedrock/converse/<model-id>` deployments (on-demand ids, cross-region inference profiles
//! such as `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, and ARNs), `POST /model/{id}/converse`
//! and `/converse-stream` (an `application/vnd.amazon.eventstream` body, decoded with the SDK's
//! bounded reader), requests signed with AWS SigV4 inside the plugin (pure: the host's clock,
//! re-signed on every attempt) or sent with a Bedrock API key as a bearer token.
//!
//! Translation: system prompts, images (data URLs, `s3://`), tools (`toolSpec`/`toolUse`/
//! `toolResult`), `toolChoice`, `inferenceConfig`, Claude's extended thinking (through
//! `additionalModelRequestFields`), JSON mode (a forced tool whose input becomes the content),
//! prompt-cache points, usage with cache reads and writes, and Bedrock's exceptions (HTTP and
//! in-stream) mapped to the gateway's error classes with their messages.
//!
//! Embeddings go through `InvokeModel` (`POST /model/{id}/invoke`, signed the same way) for
//! Amazon Titan text models (one text per request) and Cohere Embed; see `embeddings`.

mod catalog;
mod embeddings;
mod request;
mod response;
mod sigv4;
mod stream;

use switchyard_plugin_sdk::endpoint::{CHAT, EMBEDDINGS};
use switchyard_plugin_sdk::{
    DeploymentConfig, ErrorKind, ParsedResponse, Plugin, PluginMetadata, Provider, ProviderError,
    RequestContext, RequestIn, ResponseHead, UpstreamRequest, ENDPOINT_HEADER,
};

pub use stream::ConverseStreamDecoder;

use sigv4::AwsCredentials;

/// The provider id (`bedrock/…`), also the prefix of error messages.
const PROVIDER: &str = "bedrock";
/// The SigV4 signing name of the Bedrock runtime.
const SIGNING_SERVICE: &str = "bedrock";
/// LiteLLM's default region when none is configured.
pub const DEFAULT_REGION: &str = "us-west-2";

const ACCESS_KEY_ENV: &str = "AWS_ACCESS_KEY_ID";
const SECRET_KEY_ENV: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN_ENV: &str = "AWS_SESSION_TOKEN";
const REGION_ENVS: [&str; 2] = ["AWS_REGION_NAME", "AWS_REGION"];
const ENDPOINT_ENV: &str = "AWS_BEDROCK_RUNTIME_ENDPOINT";
/// A Bedrock API key (bearer token), the alternative to SigV4 credentials.
const BEARER_ENV: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// Credential sources LiteLLM knows that need an STS or file lookup this plugin does not do.
const UNSUPPORTED_AUTH_PARAMS: &[&str] = &[
    "aws_role_name",
    "aws_profile_name",
    "aws_web_identity_token",
    "aws_session_name",
    "aws_sts_endpoint",
];

/// The Bedrock plugin.
#[derive(Debug)]
pub struct BedrockPlugin;

impl Plugin for BedrockPlugin {
    type Provider = Bedrock;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("bedrock", env!("CARGO_PKG_VERSION"));
        m.providers = vec![PROVIDER.to_owned()];
        m.default_api_base = Some(format!(
            "https://bedrock-runtime.{DEFAULT_REGION}.amazonaws.com"
        ));
        m.credential_env = [ACCESS_KEY_ENV, SECRET_KEY_ENV, SESSION_TOKEN_ENV]
            .into_iter()
            .chain(REGION_ENVS)
            .chain([ENDPOINT_ENV, BEARER_ENV])
            .map(str::to_owned)
            .collect();
        // Checked at request time: SigV4 credentials and API keys come from several places.
        m.requires_api_key = false;
        m.endpoints = vec![CHAT.to_owned(), EMBEDDINGS.to_owned()];
        m.supported_params = catalog::supported_params();
        m.models = catalog::models();
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<Bedrock, ProviderError> {
        Bedrock::new(config)
    }
}

/// How requests are authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    SigV4(AwsCredentials),
    /// A Bedrock API key, sent as `Authorization: Bearer`.
    Bearer(Redacted),
    /// Nothing configured: requests fail naming the variables.
    Missing,
}

/// A secret that never reaches a log line.
#[derive(Clone, PartialEq, Eq)]
struct Redacted(String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One Bedrock deployment.
#[derive(Debug)]
pub struct Bedrock {
    /// The model id as Bedrock names it (`us.anthropic.claude-…-v1:0`, an ARN, …).
    model: String,
    region: String,
    /// `{endpoint}/model/{encoded id}`, to which `/converse` or `/converse-stream` is added.
    model_url: String,
    auth: Auth,
}

/// A string parameter of the deployment (`litellm_params`), or an error naming it.
fn string_param(config: &DeploymentConfig, name: &str) -> Result<Option<String>, ProviderError> {
    match config.params.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => {
            Ok(Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(
            ProviderError::invalid_request(format!("bedrock: {name} must be a string"))
                .with_param(name),
        ),
    }
}

/// Percent-encodes a model id for the URL path: everything but RFC 3986's unreserved
/// characters (`:` → `%3A`, and an ARN's `/` → `%2F`), as the AWS SDKs do.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `converse/<id>` or `<id>` → the id; other LiteLLM routes are refused with a clear message.
fn model_id(model: &str) -> Result<&str, ProviderError> {
    let model = model.trim();
    if model.starts_with("arn:") {
        return Ok(model);
    }
    let id = match model.split_once('/') {
        None => model,
        Some(("converse", rest)) => rest,
        Some((route, _)) => {
            return Err(ProviderError::invalid_request(format!(
                "bedrock: the '{route}/' route is not supported; use bedrock/<model-id> or \
                 bedrock/converse/<model-id> (both use the Converse API)"
            ))
            .with_param("model"))
        }
    };
    if id.is_empty() || id.contains('/') {
        return Err(ProviderError::invalid_request(format!(
            "bedrock: '{model}' is not a Bedrock model id"
        ))
        .with_param("model"));
    }
    Ok(id)
}

impl Bedrock {
    fn new(config: DeploymentConfig) -> Result<Bedrock, ProviderError> {
        for name in UNSUPPORTED_AUTH_PARAMS {
            if config.params.get(*name).is_some_and(|v| !v.is_null()) {
                return Err(ProviderError::invalid_request(format!(
                    "bedrock: {name} is not supported (no STS or profile lookups); give \
                     aws_access_key_id/aws_secret_access_key (or {ACCESS_KEY_ENV}/{SECRET_KEY_ENV})"
                ))
                .with_param(*name));
            }
        }
        let env = |name: &str| {
            config
                .env
                .get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let model = model_id(&config.model)?.to_owned();
        // An ARN names its region; otherwise the parameter, the variables, the default.
        let arn_region = model
            .strip_prefix("arn:")
            .and_then(|rest| rest.split(':').nth(2))
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let region = string_param(&config, "aws_region_name")?
            .or_else(|| REGION_ENVS.iter().find_map(|n| env(n)))
            .or(arn_region)
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        if !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ProviderError::invalid_request(format!(
                "bedrock: aws_region_name '{region}' is not an AWS region name"
            ))
            .with_param("aws_region_name"));
        }
        let endpoint = config
            .api_base
            .clone()
            .map(|b| b.trim().to_owned())
            .filter(|b| !b.is_empty())
            .or(string_param(&config, "aws_bedrock_runtime_endpoint")?)
            .or_else(|| env(ENDPOINT_ENV))
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/');
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
            || sigv4::host_header(endpoint).is_none()
            || endpoint.contains(['?', '#'])
        {
            return Err(ProviderError::invalid_request(
                "bedrock: api_base must be an http(s) URL such as https://bedrock-runtime.us-east-1.amazonaws.com",
            )
            .with_param("api_base"));
        }

        let access = string_param(&config, "aws_access_key_id")?.or_else(|| env(ACCESS_KEY_ENV));
        let secret =
            string_param(&config, "aws_secret_access_key")?.or_else(|| env(SECRET_KEY_ENV));
        let token = string_param(&config, "aws_session_token")?.or_else(|| env(SESSION_TOKEN_ENV));
        let bearer = config
            .api_key
            .clone()
            .filter(|k| !k.trim().is_empty())
            .or_else(|| env(BEARER_ENV));
        let auth = match (access, secret, bearer) {
            (Some(access_key_id), Some(secret_access_key), _) => Auth::SigV4(AwsCredentials {
                access_key_id,
                secret_access_key,
                session_token: token,
            }),
            (None, None, Some(key)) => Auth::Bearer(Redacted(key)),
            (Some(_), None, _) | (None, Some(_), _) => {
                return Err(ProviderError::new(
                    ErrorKind::Authentication,
                    format!(
                        "bedrock: only half of the AWS credentials are set: give both \
                         {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} (or aws_access_key_id and \
                         aws_secret_access_key)"
                    ),
                ))
            }
            (None, None, None) => Auth::Missing,
        };
        Ok(Bedrock {
            model_url: format!("{endpoint}/model/{}", encode_path_segment(&model)),
            model,
            region,
            auth,
        })
    }
}

impl Provider for Bedrock {
    type Decoder = ConverseStreamDecoder;

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        if request.endpoint != CHAT && request.endpoint != EMBEDDINGS {
            return Err(ProviderError::invalid_request(format!(
                "bedrock: the '{}' endpoint is not supported (chat, embeddings)",
                request.endpoint
            )));
        }
        if self.auth == Auth::Missing {
            return Err(ProviderError::new(
                ErrorKind::Authentication,
                format!(
                    "bedrock: no AWS credentials: set {ACCESS_KEY_ENV} and {SECRET_KEY_ENV} \
                     (and {SESSION_TOKEN_ENV} for temporary credentials), the deployment's \
                     aws_access_key_id/aws_secret_access_key, or a Bedrock API key in \
                     {BEARER_ENV} / api_key"
                ),
            )
            .with_code("missing_api_key"));
        }
        let embeddings = request.endpoint == EMBEDDINGS;
        let body = if embeddings {
            embeddings::request_body(embeddings::family(&self.model)?, request.body)?
        } else {
            request::translate(request.body, &self.model, request.context)?
        };
        let stream = request.context.stream && !embeddings;
        let url = format!(
            "{}/{}",
            self.model_url,
            match (embeddings, stream) {
                (true, _) => "invoke",
                (false, true) => "converse-stream",
                (false, false) => "converse",
            }
        );
        let mut upstream = UpstreamRequest::post_json(url, body);
        match &self.auth {
            Auth::SigV4(credentials) => {
                let signed = sigv4::sign_request(
                    &upstream.method,
                    &upstream.url,
                    &upstream.headers,
                    &upstream.body,
                    credentials,
                    &self.region,
                    SIGNING_SERVICE,
                    request.context.now_unix_ms,
                )?;
                upstream.headers.extend(signed);
            }
            Auth::Bearer(Redacted(key)) => {
                upstream = upstream.header("authorization", format!("Bearer {key}"));
            }
            Auth::Missing => {}
        }
        // Not signed: the host may set its own `accept`.
        upstream = upstream.header(
            "accept",
            if stream {
                "application/vnd.amazon.eventstream"
            } else {
                "application/json"
            },
        );
        Ok(upstream)
    }

    fn parse_response(
        &self,
        head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        if head.header(ENDPOINT_HEADER) == Some(EMBEDDINGS) {
            return embeddings::parse(embeddings::family(&self.model)?, head, body, &self.model);
        }
        response::translate(head, body, &self.model)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        response::classify_error(head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<ConverseStreamDecoder, ProviderError> {
        Ok(ConverseStreamDecoder::new(&self.model, context))
    }
}

switchyard_plugin_sdk::export_provider!(BedrockPlugin);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(model: &str, params: serde_json::Value) -> DeploymentConfig {
        serde_json::from_value(json!({"model": model, "params": params})).unwrap()
    }

    fn ctx(now: u64, stream: bool) -> RequestContext {
        RequestContext {
            now_unix_ms: now,
            stream,
            ..RequestContext::default()
        }
    }

    fn creds() -> serde_json::Value {
        json!({"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "secret", "aws_region_name": "us-east-1"})
    }

    const BODY: &[u8] = br#"{"model":"x","messages":[{"role":"user","content":"hi"}]}"#;

    fn header<'a>(r: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn model_routes_regions_and_urls() {
        let b = Bedrock::new(deployment("converse/us.amazon.nova-micro-v1:0", creds())).unwrap();
        assert_eq!(
            b.model_url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.amazon.nova-micro-v1%3A0"
        );
        let arn = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-x";
        let b = Bedrock::new(deployment(arn, json!({}))).unwrap();
        assert_eq!(b.region, "eu-west-1");
        assert!(b.model_url.ends_with("/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.anthropic.claude-x"));
        let mut d = deployment("anthropic.claude-3-haiku-20240307-v1:0", json!({}));
        d.env.insert("AWS_REGION".into(), "ap-south-1".into());
        assert_eq!(Bedrock::new(d).unwrap().region, "ap-south-1");
        assert_eq!(
            Bedrock::new(deployment("amazon.nova-lite-v1:0", json!({})))
                .unwrap()
                .region,
            DEFAULT_REGION
        );
        let e = Bedrock::new(deployment("invoke/anthropic.claude-x", json!({}))).unwrap_err();
        assert!(e.message.contains("'invoke/' route"), "{}", e.message);
        let e = Bedrock::new(deployment("m", json!({"aws_role_name": "r"}))).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("aws_role_name"));
    }

    #[test]
    fn every_attempt_is_signed_with_its_own_clock() {
        let b = Bedrock::new(deployment("us.amazon.nova-micro-v1:0", creds())).unwrap();
        let sign = |now| {
            b.build_request(RequestIn {
                endpoint: "chat",
                body: BODY,
                context: &ctx(now, false),
            })
            .unwrap()
        };
        let first = sign(1_740_963_423_000);
        let again = sign(1_740_963_423_000);
        let retry = sign(1_740_963_424_000);
        assert_eq!(header(&first, "x-amz-date"), Some("20250303T005703Z"));
        assert_eq!(
            header(&first, "authorization"),
            header(&again, "authorization"),
            "pure"
        );
        assert_eq!(header(&retry, "x-amz-date"), Some("20250303T005704Z"));
        assert_ne!(
            header(&first, "authorization"),
            header(&retry, "authorization")
        );
        let auth = header(&first, "authorization").unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250303/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="), "{auth}");
        assert!(first.url.ends_with("/converse"));
        let stream = b
            .build_request(RequestIn {
                endpoint: "chat",
                body: BODY,
                context: &ctx(1, true),
            })
            .unwrap();
        assert!(stream.url.ends_with("/converse-stream"));
        assert_eq!(
            header(&stream, "accept"),
            Some("application/vnd.amazon.eventstream")
        );
    }

    #[test]
    fn embeddings_are_invoked_and_signed() {
        let b = Bedrock::new(deployment("amazon.titan-embed-text-v2:0", creds())).unwrap();
        let body = br#"{"model":"titan","input":"hi","dimensions":256}"#;
        let r = b
            .build_request(RequestIn {
                endpoint: EMBEDDINGS,
                body,
                context: &ctx(1_740_963_423_000, true),
            })
            .unwrap();
        assert_eq!(
            r.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/amazon.titan-embed-text-v2%3A0/invoke"
        );
        assert_eq!(r.body, br#"{"dimensions":256,"inputText":"hi"}"#);
        assert_eq!(header(&r, "accept"), Some("application/json"));
        assert!(header(&r, "authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250303/us-east-1/bedrock/"));

        let head = ResponseHead {
            status: 200,
            headers: vec![(ENDPOINT_HEADER.into(), EMBEDDINGS.into())],
        };
        let parsed = b
            .parse_response(&head, br#"{"embedding":[0.1],"inputTextTokenCount":2}"#)
            .unwrap();
        assert_eq!(parsed.info.usage.unwrap().prompt_tokens, 2);

        let chat_model = Bedrock::new(deployment("us.amazon.nova-micro-v1:0", creds())).unwrap();
        let e = chat_model
            .build_request(RequestIn {
                endpoint: EMBEDDINGS,
                body,
                context: &ctx(1, false),
            })
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
        let e = b
            .build_request(RequestIn {
                endpoint: "rerank",
                body,
                context: &ctx(1, false),
            })
            .unwrap_err();
        assert!(e.message.contains("'rerank'"));
    }

    #[test]
    fn missing_credentials_name_the_variables_at_request_time() {
        let b = Bedrock::new(deployment("us.amazon.nova-micro-v1:0", json!({}))).unwrap();
        let e = b
            .build_request(RequestIn {
                endpoint: "chat",
                body: BODY,
                context: &ctx(1, false),
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Authentication);
        assert!(
            e.message.contains("AWS_ACCESS_KEY_ID") && e.message.contains("AWS_SECRET_ACCESS_KEY")
        );
        let mut d = deployment("us.amazon.nova-micro-v1:0", json!({}));
        d.env.insert(
            "AWS_BEARER_TOKEN_BEDROCK".into(),
            "bedrock-api-key-1".into(),
        );
        let r = Bedrock::new(d)
            .unwrap()
            .build_request(RequestIn {
                endpoint: "chat",
                body: BODY,
                context: &ctx(1, false),
            })
            .unwrap();
        assert_eq!(
            header(&r, "authorization"),
            Some("Bearer bedrock-api-key-1")
        );
        assert!(
            !format!("{:?}", Bedrock::new(deployment("m", creds())).unwrap()).contains("secret\"")
        );
    }
}
