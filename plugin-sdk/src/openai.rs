//! Helpers for OpenAI-shaped wire formats, shared by every plugin whose upstream speaks (a
//! dialect of) the OpenAI API: rewriting a request body without re-serializing it, reading
//! usage, classifying OpenAI-style error bodies.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::types::{ErrorKind, ProviderError, ResponseHead, Usage};

/// The top-level members of a JSON object, in order, values kept as raw JSON text.
///
/// Rewriting a request through this type touches only the members that change: every other
/// value is copied byte-for-byte (no full re-serialization on the passthrough path).
#[derive(Debug, Default)]
pub struct RawObject<'a> {
    members: Vec<(Cow<'a, str>, Cow<'a, RawValue>)>,
}

impl<'a> RawObject<'a> {
    /// Parses `body` as a JSON object.
    pub fn parse(body: &'a [u8]) -> Result<Self, ProviderError> {
        serde_json::from_slice(body).map_err(|e| {
            ProviderError::invalid_request(format!("request body is not a JSON object: {e}"))
        })
    }

    /// The raw JSON text of member `key`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.members.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_ref())
    }

    /// Member `key` deserialized as `T` (`None` when absent or `null`).
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ProviderError> {
        match self.get(key) {
            None => Ok(None),
            Some(raw) if raw.get() == "null" => Ok(None),
            Some(raw) => serde_json::from_str(raw.get()).map(Some).map_err(|e| {
                ProviderError::invalid_request(format!("invalid value for '{key}': {e}"))
                    .with_param(key)
            }),
        }
    }

    pub fn contains(&self, key: &str) -> bool {
        self.members.iter().any(|(k, _)| k == key)
    }

    /// Sets member `key` to the JSON text of `value`, replacing it in place or appending it.
    pub fn set<T: serde::Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        // Serializing an in-memory value that came from JSON or a literal cannot fail.
        let raw = serde_json::value::to_raw_value(value)
            .unwrap_or_else(|_| RawValue::from_string("null".to_owned()).expect("null is JSON"));
        self.set_raw(key, raw);
    }

    /// Sets member `key` to already-serialized JSON.
    pub fn set_raw(&mut self, key: &str, raw: Box<RawValue>) {
        match self.members.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = Cow::Owned(raw),
            None => self.members.push((Cow::Owned(key.to_owned()), Cow::Owned(raw))),
        }
    }

    /// Removes member `key`; returns whether it was there.
    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|(k, _)| k != key);
        before != self.members.len()
    }

    /// Member names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(k, _)| k.as_ref())
    }

    /// Writes the object back out.
    pub fn to_vec(&self) -> Vec<u8> {
        let size: usize = self.members.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum();
        let mut out = Vec::with_capacity(size + 2);
        out.push(b'{');
        for (i, (key, value)) in self.members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // Keys came from JSON, so re-escaping them is exact.
            serde_json::to_writer(&mut out, key.as_ref()).expect("writing to a Vec cannot fail");
            out.push(b':');
            out.extend_from_slice(value.get().as_bytes());
        }
        out.push(b'}');
        out
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = RawObject<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    members.retain(|(k, _): &(Cow<'a, str>, Cow<'a, RawValue>)| *k != key);
                    members.push((key, Cow::Borrowed(value)));
                }
                Ok(RawObject { members })
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// Reads an OpenAI `usage` object (also the dialects: DeepSeek's `prompt_cache_hit_tokens`,
/// Mistral's `num_cached_tokens`, cache-write details).
pub fn usage_from_json(usage: &Value) -> Option<Usage> {
    let obj = usage.as_object()?;
    let n = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(0);
    let prompt = n(obj.get("prompt_tokens"));
    let completion = n(obj.get("completion_tokens"));
    let total = obj.get("total_tokens").and_then(Value::as_u64).unwrap_or(prompt + completion);
    let prompt_details = obj.get("prompt_tokens_details");
    let cached = prompt_details
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64)
        .or_else(|| obj.get("prompt_cache_hit_tokens").and_then(Value::as_u64))
        .or_else(|| obj.get("num_cached_tokens").and_then(Value::as_u64))
        .unwrap_or(0);
    let cache_write = n(prompt_details.and_then(|d| d.get("cache_write_tokens")));
    let reasoning = n(obj.get("completion_tokens_details").and_then(|d| d.get("reasoning_tokens")));
    Some(Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        cached_tokens: cached,
        cache_write_tokens: cache_write,
        reasoning_tokens: reasoning,
    })
}

/// The OpenAI `usage` object for `usage`, with details.
pub fn usage_to_json(usage: &Usage) -> Value {
    serde_json::json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

/// Classifies an OpenAI-style error response (`{"error": {"message", "type", "code", "param"}}`
/// or a bare message), keeping the provider's message.
pub fn classify_error(provider: &str, head: &ResponseHead, body: &[u8]) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().map(|v| v.get("error").unwrap_or(v));
    let text = |key: &str| -> Option<String> {
        let v = error?.get(key)?;
        match v {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let message = text("message")
        .or_else(|| error.and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| {
            let snippet = String::from_utf8_lossy(&body[..body.len().min(300)]).trim().to_owned();
            if snippet.is_empty() {
                format!("upstream returned HTTP {}", head.status)
            } else {
                snippet
            }
        });
    let code = text("code");
    let err_type = text("type");
    let param = text("param");

    let marker = |needle: &str| {
        code.as_deref().is_some_and(|c| c.contains(needle))
            || err_type.as_deref().is_some_and(|t| t.contains(needle))
    };
    let kind = if marker("context_length_exceeded")
        || message.contains("maximum context length")
        || message.contains("context window")
    {
        ErrorKind::ContextWindowExceeded
    } else if marker("content_filter") || marker("content_policy") {
        ErrorKind::ContentPolicy
    } else {
        match head.status {
            400 | 413 | 415 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            409 => ErrorKind::Unavailable,
            429 => ErrorKind::RateLimit,
            500..=599 => ErrorKind::Unavailable,
            _ => ErrorKind::BadResponse,
        }
    };
    let status = match kind {
        ErrorKind::ContextWindowExceeded | ErrorKind::ContentPolicy => 400,
        ErrorKind::BadResponse => 502,
        _ => head.status,
    };
    let mut e = ProviderError::new(kind, format!("{provider}: {message}"))
        .with_status(status)
        .with_retry_after_ms(head.retry_after_ms());
    e.code = match kind {
        ErrorKind::ContextWindowExceeded => Some("context_length_exceeded".to_owned()),
        ErrorKind::ContentPolicy => Some("content_policy_violation".to_owned()),
        _ => code,
    };
    e.param = param;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_object_rewrites_only_the_touched_members() {
        let body = br#"{"model":"group","messages":[{"role":"user","content":"h\u00e9"}],"x":1.50}"#;
        let mut obj = RawObject::parse(body).unwrap();
        obj.set("model", "gpt-4o");
        obj.set("stream_options", &serde_json::json!({"include_usage": true}));
        let out = String::from_utf8(obj.to_vec()).unwrap();
        assert_eq!(
            out,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9"}],"x":1.50,"stream_options":{"include_usage":true}}"#
        );
    }

    #[test]
    fn raw_object_rejects_non_objects() {
        assert!(RawObject::parse(b"[1,2]").is_err());
        assert!(RawObject::parse(b"{\"a\":").is_err());
    }

    #[test]
    fn usage_reads_cached_and_reasoning_details() {
        let u = usage_from_json(&serde_json::json!({
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4},
            "completion_tokens_details": {"reasoning_tokens": 3}
        }))
        .unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (10, 5, 15));
        assert_eq!((u.cached_tokens, u.reasoning_tokens), (4, 3));
    }

    #[test]
    fn classify_maps_status_and_keeps_message() {
        let head = ResponseHead {
            status: 429,
            headers: vec![("retry-after".into(), "7".into())],
        };
        let e = classify_error("openai", &head, br#"{"error":{"message":"slow down","type":"requests"}}"#);
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after_ms, Some(7000));
        assert!(e.message.contains("slow down"));

        let head = ResponseHead { status: 400, headers: vec![] };
        let e = classify_error(
            "openai",
            &head,
            br#"{"error":{"message":"too long","code":"context_length_exceeded"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::ContextWindowExceeded);
        assert_eq!(e.code.as_deref(), Some("context_length_exceeded"));
    }
}
