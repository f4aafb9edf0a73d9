//! The endpoints beyond chat: Responses, rerank, images, audio and provider pass-through. Each
//! is a [`Call`] on the same model-call path as chat (keys, budgets, router, cost, metrics);
//! this module only reads each one's request shape and, for Responses, keeps the conversation.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream;
use http::header::CONTENT_TYPE;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use switchyard_plugin_sdk::{ErrorKind, Passthrough};

use super::{json_response, BoxError, Call, Gateway, ServedNatively};
use crate::body::{FrameMap, GatewayBody};
use crate::error::GatewayError;
use crate::metrics::RequestLabels;
use crate::tenancy::Principal;
use crate::types::ChatRequestHead;

/// Responses kept in memory when there is no database.
const MEMORY_RESPONSES: usize = 10_000;

/// `data[].embedding` arrays of floats as base64 of little-endian `f32`s, what OpenAI sends
/// for `encoding_format: base64` (and the OpenAI SDKs ask for by default). Answers already in
/// base64, or not embeddings lists, are returned unchanged.
pub(super) fn embeddings_as_base64(body: &Bytes) -> Bytes {
    let Ok(mut value) = serde_json::from_slice::<Value>(body) else {
        return body.clone();
    };
    let Some(data) = value.get_mut("data").and_then(Value::as_array_mut) else {
        return body.clone();
    };
    let mut changed = false;
    for item in data {
        let Some(vector) = item.get("embedding").and_then(Value::as_array) else {
            continue;
        };
        let mut bytes = Vec::with_capacity(vector.len() * 4);
        for x in vector {
            let Some(x) = x.as_f64() else {
                return body.clone();
            };
            bytes.extend_from_slice(&(x as f32).to_le_bytes());
        }
        item["embedding"] = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
        changed = true;
    }
    if !changed {
        return body.clone();
    }
    serde_json::to_vec(&value)
        .map(Bytes::from)
        .unwrap_or_else(|_| body.clone())
}

/// Who owns a stored response: a virtual key (by its hash), else the master key.
fn owner_of(principal: &Principal) -> String {
    match principal {
        Principal::Key(k) => k.key.id.clone(),
        Principal::Master | Principal::Open => "master".to_owned(),
    }
}

/// Stored responses by id, each with its owner, and the ids oldest first.
type Kept = (HashMap<String, (String, Value)>, VecDeque<String>);

/// Responses API objects when no database is configured: the most recent ones, in memory.
#[derive(Debug, Default)]
pub(super) struct MemoryResponses {
    inner: Mutex<Kept>,
}

impl MemoryResponses {
    fn put(&self, id: &str, owner: &str, data: Value) {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map
            .insert(id.to_owned(), (owner.to_owned(), data))
            .is_none()
        {
            order.push_back(id.to_owned());
        }
        while order.len() > MEMORY_RESPONSES {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
    }

    fn get(&self, id: &str, owner: &str) -> Option<Value> {
        let guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .0
            .get(id)
            .filter(|(o, _)| o == owner)
            .map(|(_, v)| v.clone())
    }

    fn delete(&self, id: &str, owner: &str) -> bool {
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (map, order) = &mut *guard;
        if map.get(id).is_some_and(|(o, _)| o == owner) {
            map.remove(id);
            order.retain(|i| i != id);
            return true;
        }
        false
    }
}

fn store_error(e: switchyard_store::StoreError) -> GatewayError {
    GatewayError::new(ErrorKind::Unavailable, e.to_string()).with_code("store_unavailable")
}

/// Where responses go: the database when there is one, else memory.
#[derive(Clone)]
struct ResponseStore {
    gateway: Gateway,
}

impl ResponseStore {
    async fn put(&self, id: String, owner: String, data: Value) {
        match self.gateway.inner.tenancy.get() {
            Some(t) => {
                let now = crate::router::unix_ms() as i64;
                if let Err(e) = t.store().put_response(&id, &owner, &data, now).await {
                    tracing::warn!(response_id = %id, error = %e, "response not stored");
                }
            }
            None => self.gateway.inner.responses.put(&id, &owner, data),
        }
    }

    async fn get(&self, id: &str, owner: &str) -> Result<Option<Value>, GatewayError> {
        match self.gateway.inner.tenancy.get() {
            Some(t) => t.store().response(id, owner).await.map_err(store_error),
            None => Ok(self.gateway.inner.responses.get(id, owner)),
        }
    }

    async fn delete(&self, id: &str, owner: &str) -> Result<bool, GatewayError> {
        match self.gateway.inner.tenancy.get() {
            Some(t) => t
                .store()
                .delete_response(id, owner)
                .await
                .map_err(store_error),
            None => Ok(self.gateway.inner.responses.delete(id, owner)),
        }
    }

    /// Keeps a finished response (in the background: the client is not kept waiting).
    fn keep(&self, owner: &str, input: &[Value], response: &Value) {
        let Some(id) = response.get("id").and_then(Value::as_str) else {
            return;
        };
        let data = json!({"input": input, "response": response});
        let this = self.clone();
        let (id, owner) = (id.to_owned(), owner.to_owned());
        tokio::spawn(async move { this.put(id, owner, data).await });
    }
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::NotFound,
        format!("no response with id '{id}' (responses are kept per key)"),
    )
    .with_code("response_not_found")
}

fn unix_seconds() -> u64 {
    crate::router::unix_ms() / 1000
}

impl Gateway {
    fn response_store(&self) -> ResponseStore {
        ResponseStore {
            gateway: self.clone(),
        }
    }

    /// `POST /v1/responses`: natively on deployments that serve it (OpenAI), translated to
    /// chat on the others; `previous_response_id` is resolved from the gateway's store, so a
    /// conversation can move between providers.
    pub(super) async fn responses<B>(
        &self,
        req: Request<B>,
        request_id: &str,
        labels: &mut RequestLabels,
        started: std::time::Instant,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let principal = self.authenticate(&req).await?;
        let body = self.read_body(req.into_body()).await?;
        let mut request: Value = serde_json::from_slice(&body).map_err(|e| {
            GatewayError::invalid_request(format!("request body is not valid JSON: {e}"), None)
                .with_code("invalid_json")
        })?;
        let owner = owner_of(&principal);
        let store = self.response_store();
        let history = match request.get("previous_response_id").and_then(Value::as_str) {
            None => Vec::new(),
            Some(id) => {
                let stored = store.get(id, &owner).await?.ok_or_else(|| {
                    GatewayError::invalid_request(
                        format!("previous response with id '{id}' not found"),
                        Some("previous_response_id"),
                    )
                    .with_code("previous_response_not_found")
                })?;
                let mut items: Vec<Value> = stored
                    .get("input")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if let Some(response) = stored.get("response") {
                    items.extend(crate::responses::output_as_input(response));
                }
                items
            }
        };
        let translation = crate::responses::to_chat_request(&body, &history)?;
        tracing::debug!(
            model = %translation.model,
            previous_response_id = ?translation.previous_response_id,
            turns_before = history.len(),
            "responses request"
        );
        // The answer echoes the request as the client sent it (its previous_response_id too).
        let echoed = request.clone();
        let mut input = history;
        input.extend(translation.input_items.iter().cloned());
        // The native request carries the whole conversation: the upstream need not have
        // stored the earlier turns (they may have been served by another provider).
        if let Some(object) = request.as_object_mut() {
            object.remove("previous_response_id");
            object.insert("input".to_owned(), Value::Array(input.clone()));
        }
        let native_body = Bytes::from(serde_json::to_vec(&request).unwrap_or_default());
        let mut call = Call::json("responses", native_body)?;
        call.alternate = Some(("chat", translation.chat.clone()));
        // The translated stream needs the usage chunk for `response.completed`.
        call.head.include_usage = call.head.stream;
        let response = self
            .model_call(call, principal, request_id, labels, started)
            .await?;
        let keep = translation.store.then_some((store, owner, input));
        Ok(self
            .in_responses_shape(response, echoed, keep, translation.stream)
            .await)
    }

    /// An answer of the model-call path as a Responses answer: native ones as they are,
    /// chat ones translated; finished responses are stored.
    async fn in_responses_shape(
        &self,
        response: Response<GatewayBody>,
        request: Value,
        keep: Option<(ResponseStore, String, Vec<Value>)>,
        stream: bool,
    ) -> Response<GatewayBody> {
        let native = response
            .extensions()
            .get::<ServedNatively>()
            .is_some_and(|n| n.0);
        let (mut parts, body) = response.into_parts();
        if parts.status != StatusCode::OK {
            return Response::from_parts(parts, body);
        }
        let created = unix_seconds();
        if stream {
            let mut translator = (!native).then(|| {
                crate::responses::StreamTranslator::new(
                    format!("resp_{:032x}", rand::random::<u128>()),
                    request,
                    created,
                )
            });
            let mut kept = false;
            let body = GatewayBody::mapped(
                body,
                FrameMap(Box::new(move |frame| {
                    let Some(frame) = frame else {
                        // An upstream that ended without [DONE] still completes the response.
                        return match &mut translator {
                            Some(t) => t.feed(Bytes::from_static(b"data: [DONE]\n\n")),
                            None => Bytes::new(),
                        };
                    };
                    let out = match &mut translator {
                        Some(t) => t.feed(Bytes::copy_from_slice(frame)),
                        None => Bytes::copy_from_slice(frame),
                    };
                    if !kept {
                        let completed = match &translator {
                            Some(t) => t.completed().cloned(),
                            None => completed_in(frame),
                        };
                        if let (Some(done), Some((store, owner, input))) = (completed, &keep) {
                            store.keep(owner, input, &done);
                            kept = true;
                        }
                    }
                    out
                })),
            );
            return Response::from_parts(parts, body);
        }
        let bytes = body
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let answer = if native {
            serde_json::from_slice::<Value>(&bytes).ok()
        } else {
            let id = format!("resp_{:032x}", rand::random::<u128>());
            match crate::responses::to_response(&bytes, &id, &request, created) {
                Ok(v) => Some(v),
                Err(e) => {
                    parts.headers.remove(http::header::CONTENT_LENGTH);
                    let error = super::error_response(&e);
                    return Response::from_parts(parts, error.into_body());
                }
            }
        };
        if let (Some(answer), Some((store, owner, input))) = (&answer, &keep) {
            store.keep(owner, input, answer);
        }
        let out = match answer {
            Some(v) if !native => Bytes::from(serde_json::to_vec(&v).unwrap_or_default()),
            _ => bytes,
        };
        parts.headers.remove(http::header::CONTENT_LENGTH);
        Response::from_parts(parts, GatewayBody::full(out))
    }

    /// `GET` and `DELETE /v1/responses/{id}`: the key's own stored responses.
    pub(super) async fn response_item<B>(
        &self,
        req: Request<B>,
        id: &str,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        let principal = self.authenticate(&req).await?;
        let owner = owner_of(&principal);
        let store = self.response_store();
        let value = if req.method() == Method::DELETE {
            if !store.delete(id, &owner).await? {
                return Err(not_found(id));
            }
            json!({"id": id, "object": "response.deleted", "deleted": true})
        } else {
            let stored = store.get(id, &owner).await?.ok_or_else(|| not_found(id))?;
            stored.get("response").cloned().unwrap_or(Value::Null)
        };
        Ok(json_response(
            StatusCode::OK,
            Bytes::from(serde_json::to_vec(&value).unwrap_or_default()),
        ))
    }

    /// `/<provider>/<path>`: the client's request, to be forwarded as it is to a configured
    /// deployment of that provider with the deployment's credentials; keys, budgets and spend
    /// apply as to any call.
    pub(super) fn passthrough_call(
        &self,
        provider: &str,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<Call, GatewayError> {
        let path = match parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .and_then(|p| p.get(provider.len() + 1..))
        {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            _ => "/".to_owned(),
        };
        // Only what routing needs is read from the body: its `model` and `stream`.
        #[derive(Default, serde::Deserialize)]
        struct Hint {
            model: Option<String>,
            stream: Option<bool>,
        }
        let hint: Hint = serde_json::from_slice(&body).unwrap_or_default();
        let group = self
            .inner
            .live
            .load()
            .engine
            .passthrough_group(provider, hint.model.as_deref())
            .ok_or_else(|| {
                GatewayError::new(
                    ErrorKind::NotFound,
                    format!(
                        "no deployment of provider '{provider}' is configured: pass-through \
                         routes use a configured deployment's address and credentials"
                    ),
                )
                .with_code("no_passthrough_deployment")
            })?;
        let stream = hint.stream.unwrap_or(false)
            || path.contains(":streamGenerateContent")
            || path.contains("alt=sse");
        let mut call = Call::new(
            "passthrough",
            ChatRequestHead::for_model(group, stream),
            body,
        );
        call.content_type = content_type_of(&parts.headers);
        call.passthrough = Some(Passthrough {
            method: parts.method.as_str().to_owned(),
            path,
        });
        call.provider = Some(provider.to_owned());
        Ok(call)
    }
}

/// `/v1/audio/transcriptions`: a multipart upload, forwarded as it came; the gateway reads only
/// the `model` (and `stream`) fields.
pub(super) async fn transcription_call(
    headers: &http::HeaderMap,
    body: Bytes,
) -> Result<Call, GatewayError> {
    let content_type = content_type_of(headers).unwrap_or_default();
    let (model, stream) = multipart_model(&content_type, body.clone()).await?;
    let mut call = Call::new(
        "audio_transcriptions",
        ChatRequestHead::for_model(model, stream),
        body,
    );
    call.content_type = Some(content_type);
    Ok(call)
}

fn content_type_of(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The completed response in a native Responses stream frame, if it is the final event.
fn completed_in(frame: &[u8]) -> Option<Value> {
    // Every delta event passes here: only the one that can be the end is parsed.
    const MARK: &[u8] = b"\"response.completed\"";
    if !frame.windows(MARK.len()).any(|w| w == MARK) {
        return None;
    }
    let text = std::str::from_utf8(frame).ok()?;
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v.get("type").and_then(Value::as_str) == Some("response.completed"))
        .and_then(|v| v.get("response").cloned())
}

/// The `model` field (and `stream`) of a multipart upload.
async fn multipart_model(content_type: &str, body: Bytes) -> Result<(String, bool), GatewayError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        GatewayError::invalid_request(
            "the request must be multipart/form-data with a boundary (a 'file' and a 'model' \
             field)",
            None,
        )
        .with_code("invalid_multipart")
    })?;
    let mut form = multer::Multipart::new(
        stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) }),
        boundary,
    );
    let mut model = None;
    let mut stream = false;
    loop {
        let field = form.next_field().await.map_err(|e| {
            GatewayError::invalid_request(format!("malformed multipart body: {e}"), None)
                .with_code("invalid_multipart")
        })?;
        let Some(field) = field else { break };
        match field.name() {
            Some("model") => model = field.text().await.ok().map(|t| t.trim().to_owned()),
            Some("stream") => {
                stream = field.text().await.is_ok_and(|t| t.trim() == "true");
            }
            _ => {}
        }
    }
    match model {
        Some(m) if !m.is_empty() => Ok((m, stream)),
        _ => Err(GatewayError::invalid_request(
            "missing required parameter 'model'",
            Some("model"),
        )
        .with_code("missing_required_parameter")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_embeddings_become_little_endian_f32_base64() {
        let body = Bytes::from_static(
            br#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,-2.5]}]}"#,
        );
        let out: Value = serde_json::from_slice(&embeddings_as_base64(&body)).unwrap();
        let text = out["data"][0]["embedding"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap();
        let mut expected = 1.0f32.to_le_bytes().to_vec();
        expected.extend_from_slice(&(-2.5f32).to_le_bytes());
        assert_eq!(bytes, expected);
        // Already base64, or not an embeddings list: untouched.
        let already = Bytes::from_static(br#"{"data":[{"embedding":"AACAPw=="}]}"#);
        assert_eq!(embeddings_as_base64(&already), already);
        let other = Bytes::from_static(b"not json");
        assert_eq!(embeddings_as_base64(&other), other);
    }

    #[tokio::test]
    async fn the_model_of_a_multipart_upload_is_read_and_a_bad_one_is_named() {
        let body = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\
              Content-Type: audio/wav\r\n\r\nRIFF--XyZ-not-a-boundary\r\n--XyZ\r\n\
              Content-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--XyZ--\r\n",
        );
        let (model, stream) = multipart_model("multipart/form-data; boundary=XyZ", body.clone())
            .await
            .unwrap();
        assert_eq!((model.as_str(), stream), ("whisper", false));
        let e = multipart_model("application/json", body).await.unwrap_err();
        assert_eq!(e.code.as_deref(), Some("invalid_multipart"));
        let no_model = Bytes::from_static(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n",
        );
        let e = multipart_model("multipart/form-data; boundary=XyZ", no_model)
            .await
            .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("model"));
    }

    #[test]
    fn only_the_completed_event_of_a_native_stream_is_kept() {
        let delta = br#"event: response.output_text.delta
data: {"type":"response.output_text.delta","delta":"hi"}

"#;
        assert_eq!(completed_in(delta), None);
        let done = br#"event: response.completed
data: {"type":"response.completed","response":{"id":"resp_9","output":[]}}

"#;
        assert_eq!(
            completed_in(done),
            Some(json!({"id": "resp_9", "output": []}))
        );
    }

    #[test]
    fn memory_responses_are_per_owner_and_bounded() {
        let m = MemoryResponses::default();
        m.put("r1", "k1", json!({"x": 1}));
        assert_eq!(m.get("r1", "k1"), Some(json!({"x": 1})));
        assert_eq!(m.get("r1", "k2"), None);
        assert!(!m.delete("r1", "k2"));
        for i in 0..MEMORY_RESPONSES + 5 {
            m.put(&format!("r{i}"), "k1", json!(i));
        }
        assert_eq!(m.get("r1", "k1"), None);
        assert!(m.get(&format!("r{}", MEMORY_RESPONSES + 4), "k1").is_some());
    }
}
