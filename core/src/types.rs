//! The parts of OpenAI requests the gateway itself reads. Everything else in a body is left to
//! the plugin, untouched, so unknown fields reach the provider as the client sent them.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::Secret;
use crate::error::GatewayError;

/// The members of a chat request that routing and the commit point need.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequestHead {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Per-request `drop_params` (LiteLLM extension), when given.
    pub drop_params: Option<bool>,
    /// Per-request `num_retries` (LiteLLM extension).
    pub num_retries: Option<u32>,
    /// Per-request `fallbacks` (LiteLLM extension): model groups, aliases or `{model: ...}`.
    pub fallbacks: Option<Vec<String>>,
    /// Per-request `timeout` in seconds (LiteLLM extension), for the whole request.
    pub timeout: Option<f64>,
    /// `max_completion_tokens`, else `max_tokens`: what a budget reserves for the answer.
    pub max_tokens: Option<u64>,
    /// Upstream credentials and address the client sent itself.
    pub client_credentials: ClientCredentials,
    /// `encoding_format: base64` on an embeddings request.
    pub base64_embeddings: bool,
    /// Characters of `input` on a speech request (what speech is billed by).
    pub input_characters: u64,
}

/// `api_base` (or `base_url`), `api_key` and `api_version` members a client put in its request,
/// in that order, by the name it used; values never show in `Debug`. They take effect only on
/// deployments that allow them (`configurable_clientside_auth_params`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCredentials(pub Vec<(&'static str, Secret)>);

impl ClientCredentials {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[derive(Deserialize)]
struct RawHead<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    query: Option<&'a RawValue>,
    #[serde(borrow, default)]
    documents: Option<&'a RawValue>,
    #[serde(borrow, default)]
    encoding_format: Option<Cow<'a, str>>,
    #[serde(default)]
    max_output_tokens: Option<serde_json::Value>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    drop_params: Option<bool>,
    #[serde(default)]
    num_retries: Option<serde_json::Value>,
    #[serde(default)]
    fallbacks: Option<serde_json::Value>,
    #[serde(default)]
    timeout: Option<serde_json::Value>,
    #[serde(default)]
    max_tokens: Option<serde_json::Value>,
    #[serde(default)]
    max_completion_tokens: Option<serde_json::Value>,
    #[serde(borrow, default)]
    api_base: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    base_url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    api_key: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    api_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

impl ChatRequestHead {
    /// Validates a `/v1/chat/completions` body: JSON object, `model` string, `messages`
    /// non-empty array. Errors are 400s naming the parameter.
    pub fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        Self::parse_for("chat", body)
    }

    /// Validates a body for `endpoint`: `chat` needs `messages`, `embeddings` an `input`,
    /// `completions` a `prompt`.
    pub fn parse_for(endpoint: &str, body: &[u8]) -> Result<Self, GatewayError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(GatewayError::invalid_request(
                "request body is empty: send a JSON object with 'model' and 'messages'",
                None,
            )
            .with_code("invalid_json"));
        }
        let raw: RawHead<'_> = switchyard_plugin_sdk::json_from_slice(body).map_err(|e| {
            let message = if e.is_data() {
                format!("invalid request body: {e}")
            } else {
                format!("request body is not valid JSON: {e}")
            };
            GatewayError::invalid_request(message, None).with_code("invalid_json")
        })?;
        let model = match raw.model {
            Some(m) if !m.trim().is_empty() => m.into_owned(),
            _ => {
                return Err(GatewayError::invalid_request(
                    "missing required parameter 'model'",
                    Some("model"),
                )
                .with_code("missing_required_parameter"))
            }
        };
        let required = |name: &str, value: Option<&RawValue>| match value {
            Some(v) if v.get() != "null" && v.get() != "\"\"" && v.get() != "[]" => Ok(()),
            _ => Err(GatewayError::invalid_request(
                format!("missing required parameter '{name}'"),
                Some(name),
            )
            .with_code("missing_required_parameter")),
        };
        match endpoint {
            "embeddings" | "responses" | "audio_speech" => required("input", raw.input)?,
            "completions" | "images" => required("prompt", raw.prompt)?,
            "rerank" => {
                required("query", raw.query)?;
                required("documents", raw.documents)?;
            }
            _ => {}
        }
        let messages = if endpoint == "chat" || endpoint == "messages" {
            raw.messages.map(|m| m.get().trim_start())
        } else {
            Some("[{}]")
        };
        match messages {
            None => {
                return Err(GatewayError::invalid_request(
                    "missing required parameter 'messages'",
                    Some("messages"),
                )
                .with_code("missing_required_parameter"))
            }
            Some(m) if !m.starts_with('[') => {
                return Err(GatewayError::invalid_request(
                    "'messages' must be an array of message objects",
                    Some("messages"),
                ))
            }
            Some(m) if m[1..].trim_start().starts_with(']') => {
                return Err(GatewayError::invalid_request(
                    "'messages' must contain at least one message",
                    Some("messages"),
                ))
            }
            Some(_) => {}
        }
        let num_retries = match raw.num_retries {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|n| *n <= 100)
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        GatewayError::invalid_request(
                            format!("'num_retries' must be a whole number from 0 to 100, not {v}"),
                            Some("num_retries"),
                        )
                    })?,
            ),
        };
        let fallbacks = match raw.fallbacks {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|item| match item {
                        serde_json::Value::String(s) => Ok(s.clone()),
                        serde_json::Value::Object(m) => m
                            .get("model")
                            .and_then(|m| m.as_str())
                            .map(str::to_owned)
                            .ok_or(()),
                        _ => Err(()),
                    })
                    .collect::<Result<Vec<_>, ()>>()
                    .map_err(|()| {
                        GatewayError::invalid_request(
                            "'fallbacks' must be a list of model names or {\"model\": name} objects",
                            Some("fallbacks"),
                        )
                    })?,
            ),
            Some(_) => {
                return Err(GatewayError::invalid_request(
                    "'fallbacks' must be a list of model names",
                    Some("fallbacks"),
                ))
            }
        };
        let timeout = match raw.timeout {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                v.as_f64()
                    .filter(|t| *t > 0.0 && t.is_finite())
                    .ok_or_else(|| {
                        GatewayError::invalid_request(
                            format!("'timeout' must be a positive number of seconds, not {v}"),
                            Some("timeout"),
                        )
                    })?,
            ),
        };
        let stream = raw.stream.unwrap_or(false)
            && matches!(endpoint, "chat" | "completions" | "messages" | "responses");
        let client_credentials = ClientCredentials(
            [
                ("api_base", raw.api_base),
                ("base_url", raw.base_url),
                ("api_key", raw.api_key),
                ("api_version", raw.api_version),
            ]
            .into_iter()
            .filter_map(|(name, v)| Some((name, Secret::new(v?.into_owned()))))
            .collect(),
        );
        let max_tokens = [
            raw.max_completion_tokens,
            raw.max_tokens,
            raw.max_output_tokens,
        ]
        .into_iter()
        .flatten()
        .find_map(|v| v.as_u64());
        Ok(ChatRequestHead {
            max_tokens,
            client_credentials,
            num_retries,
            fallbacks,
            timeout,
            model,
            stream,
            include_usage: stream
                && raw
                    .stream_options
                    .and_then(|o| o.include_usage)
                    .unwrap_or(false),
            drop_params: raw.drop_params,
            base64_embeddings: raw.encoding_format.as_deref() == Some("base64"),
            input_characters: match (endpoint, raw.input) {
                ("audio_speech", Some(input)) => serde_json::from_str::<Cow<'_, str>>(input.get())
                    .map_or(0, |text| text.chars().count() as u64),
                _ => 0,
            },
        })
    }

    /// The head of a request whose body the gateway does not read as JSON (a multipart
    /// upload, a pass-through body): only the model group and whether it streams.
    pub fn for_model(model: String, stream: bool) -> Self {
        ChatRequestHead {
            model,
            stream,
            include_usage: false,
            drop_params: None,
            num_retries: None,
            fallbacks: None,
            timeout: None,
            max_tokens: None,
            client_credentials: ClientCredentials::default(),
            base64_embeddings: false,
            input_characters: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speech_input_is_counted_in_characters_not_bytes() {
        let h = ChatRequestHead::parse_for(
            "audio_speech",
            br#"{"model":"tts","input":"h\u00e9llo w\u00f6rld","voice":"alloy"}"#,
        )
        .unwrap();
        assert_eq!(h.input_characters, 11);
        let chat =
            ChatRequestHead::parse(br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#)
                .unwrap();
        assert_eq!(chat.input_characters, 0);
    }

    #[test]
    fn parses_model_stream_and_usage_flag() {
        let h = ChatRequestHead::parse(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,
                "stream_options":{"include_usage":true},"extra":{"kept":1}}"#,
        )
        .unwrap();
        assert_eq!(h.model, "m");
        assert!(h.stream && h.include_usage);
    }

    #[test]
    fn rejects_what_openai_rejects_naming_the_param() {
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"", None),
            (b"{not json", None),
            (
                br#"{"messages":[{"role":"user","content":"x"}]}"#,
                Some("model"),
            ),
            (br#"{"model":"m"}"#, Some("messages")),
            (br#"{"model":"m","messages":"hi"}"#, Some("messages")),
            (br#"{"model":"m","messages":[ ]}"#, Some("messages")),
        ];
        for (body, param) in cases {
            let e = ChatRequestHead::parse(body).unwrap_err();
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(body));
            assert_eq!(
                e.param.as_deref(),
                param,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
