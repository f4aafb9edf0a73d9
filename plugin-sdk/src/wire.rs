//! The JSON blobs every request sends across the ABI (`context` into `build_request`, `info` out
//! of `parse_response` and stream decoders), written directly.
//!
//! serde's serializer escapes every member name and goes through the `Serialize` machinery per
//! field; for these two small fixed shapes that was 5 of the ~140 thousand instructions a
//! request costs in the gateway (callgrind, `docs/performance.md`). The common shapes are
//! written here with pre-escaped names; anything rarer goes through serde. Either way the bytes
//! are what `serde_json::to_vec` writes (the tests compare them), so readers are unaffected.
//!
//! Reading is the mirror image: [`read_context`] and [`read_info`] accept exactly the layout the
//! writers produce (member order, no whitespace, no escapes) and return `None` for anything
//! else, which the caller then parses with serde. A blob from another SDK version or a
//! hand-written plugin is therefore read exactly as before, only without the shortcut.

use crate::types::{RequestContext, ResponseInfo, Usage};

/// JSON of `context`, byte for byte as `serde_json::to_vec` writes it.
pub(crate) fn context_json(context: &RequestContext) -> Vec<u8> {
    if context.auth_token.is_some()
        || context.content_type.is_some()
        || context.passthrough.is_some()
    {
        return serde_json::to_vec(context).unwrap_or_default();
    }
    let mut out = Vec::with_capacity(160 + context.request_id.len());
    out.extend_from_slice(b"{\"request_id\":");
    string(&mut out, &context.request_id);
    out.extend_from_slice(b",\"attempt\":");
    number(&mut out, u64::from(context.attempt));
    out.extend_from_slice(b",\"now_unix_ms\":");
    number(&mut out, context.now_unix_ms);
    out.extend_from_slice(b",\"stream\":");
    boolean(&mut out, context.stream);
    out.extend_from_slice(b",\"include_usage\":");
    boolean(&mut out, context.include_usage);
    out.extend_from_slice(b",\"drop_params\":");
    boolean(&mut out, context.drop_params);
    if !context.endpoint.is_empty() {
        out.extend_from_slice(b",\"endpoint\":");
        string(&mut out, &context.endpoint);
    }
    out.push(b'}');
    out
}

/// JSON of `info`, byte for byte as `serde_json::to_vec` writes it; empty when `info` is.
pub(crate) fn info_json(info: &ResponseInfo) -> Vec<u8> {
    if info.is_empty() {
        return Vec::new();
    }
    let rare_usage = info.usage.is_some_and(|u| {
        u.images != 0 || u.audio_input_ms != 0 || u.input_characters != 0 || u.queries != 0
    });
    if rare_usage || info.content_type.is_some() {
        return serde_json::to_vec(info).unwrap_or_default();
    }
    let mut out = Vec::with_capacity(192);
    out.push(b'{');
    let mut first = true;
    let mut member = |out: &mut Vec<u8>, name: &[u8]| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(name);
    };
    if let Some(usage) = &info.usage {
        member(&mut out, b"\"usage\":");
        usage_json(&mut out, usage);
    }
    if let Some(reason) = &info.finish_reason {
        member(&mut out, b"\"finish_reason\":");
        string(&mut out, reason);
    }
    if let Some(model) = &info.model {
        member(&mut out, b"\"model\":");
        string(&mut out, model);
    }
    out.push(b'}');
    out
}

/// The always-present members of `usage` (the caller checked the skipped ones are zero).
fn usage_json(out: &mut Vec<u8>, usage: &Usage) {
    out.extend_from_slice(b"{\"prompt_tokens\":");
    number(out, usage.prompt_tokens);
    out.extend_from_slice(b",\"completion_tokens\":");
    number(out, usage.completion_tokens);
    out.extend_from_slice(b",\"total_tokens\":");
    number(out, usage.total_tokens);
    out.extend_from_slice(b",\"cached_tokens\":");
    number(out, usage.cached_tokens);
    out.extend_from_slice(b",\"cache_write_tokens\":");
    number(out, usage.cache_write_tokens);
    out.extend_from_slice(b",\"reasoning_tokens\":");
    number(out, usage.reasoning_tokens);
    out.push(b'}');
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn boolean(out: &mut Vec<u8>, b: bool) {
    out.extend_from_slice(if b { b"true" } else { b"false" });
}

/// A JSON string literal, escaped exactly as serde_json escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    // Writing a `str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `context` as [`context_json`] writes it, or `None` (parse with serde instead).
pub(crate) fn read_context(bytes: &[u8]) -> Option<RequestContext> {
    let mut r = Canonical(bytes);
    r.literal(b"{\"request_id\":")?;
    let request_id = r.string()?.to_owned();
    r.literal(b",\"attempt\":")?;
    let attempt = u32::try_from(r.number()?).ok()?;
    r.literal(b",\"now_unix_ms\":")?;
    let now_unix_ms = r.number()?;
    r.literal(b",\"stream\":")?;
    let stream = r.boolean()?;
    r.literal(b",\"include_usage\":")?;
    let include_usage = r.boolean()?;
    r.literal(b",\"drop_params\":")?;
    let drop_params = r.boolean()?;
    let endpoint = if r.optional(b",\"endpoint\":") {
        r.string()?.to_owned()
    } else {
        String::new()
    };
    r.literal(b"}")?;
    r.end()?;
    Some(RequestContext {
        request_id,
        attempt,
        now_unix_ms,
        stream,
        include_usage,
        drop_params,
        endpoint,
        ..RequestContext::default()
    })
}

/// `info` as [`info_json`] writes it, or `None` (parse with serde instead).
pub(crate) fn read_info(bytes: &[u8]) -> Option<ResponseInfo> {
    let mut r = Canonical(bytes);
    r.literal(b"{")?;
    let mut info = ResponseInfo::default();
    let mut first = true;
    let mut member = |r: &mut Canonical<'_>, name: &[u8]| -> bool {
        let skip = match (first, r.0.first()) {
            (true, _) => 0,
            (false, Some(b',')) => 1,
            (false, _) => return false,
        };
        let found = r.0[skip..].starts_with(name);
        if found {
            r.0 = &r.0[skip + name.len()..];
            first = false;
        }
        found
    };
    if member(&mut r, b"\"usage\":") {
        r.literal(b"{\"prompt_tokens\":")?;
        let prompt_tokens = r.number()?;
        r.literal(b",\"completion_tokens\":")?;
        let completion_tokens = r.number()?;
        r.literal(b",\"total_tokens\":")?;
        let total_tokens = r.number()?;
        r.literal(b",\"cached_tokens\":")?;
        let cached_tokens = r.number()?;
        r.literal(b",\"cache_write_tokens\":")?;
        let cache_write_tokens = r.number()?;
        r.literal(b",\"reasoning_tokens\":")?;
        let reasoning_tokens = r.number()?;
        r.literal(b"}")?;
        info.usage = Some(Usage {
            prompt_tokens,
            completion_tokens,
            total_tokens,
            cached_tokens,
            cache_write_tokens,
            reasoning_tokens,
            ..Usage::default()
        });
    }
    if member(&mut r, b"\"finish_reason\":") {
        info.finish_reason = Some(r.string()?.to_owned());
    }
    if member(&mut r, b"\"model\":") {
        info.model = Some(r.string()?.to_owned());
    }
    r.literal(b"}")?;
    r.end()?;
    Some(info)
}

/// A reader of the writers' layout; every method returns `None` where serde might read
/// something else (or reject the input), so that serde decides.
struct Canonical<'a>(&'a [u8]);

impl<'a> Canonical<'a> {
    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(expected)?;
        Some(())
    }

    fn optional(&mut self, expected: &[u8]) -> bool {
        self.literal(expected).is_some()
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }

    fn boolean(&mut self) -> Option<bool> {
        if self.optional(b"true") {
            Some(true)
        } else if self.optional(b"false") {
            Some(false)
        } else {
            None
        }
    }

    /// A non-negative integer without leading zeros that fits a `u64`.
    fn number(&mut self) -> Option<u64> {
        let digits = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || (digits > 1 && self.0[0] == b'0') {
            return None;
        }
        let mut n: u64 = 0;
        for &d in &self.0[..digits] {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        }
        // `1.0` or `1e3` are numbers serde reads differently (or rejects for an integer).
        if matches!(self.0.get(digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.0 = &self.0[digits..];
        Some(n)
    }

    /// A string without escapes or control characters, as valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        let rest = self.0.strip_prefix(b"\"")?;
        let len = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[len] != b'"' {
            return None;
        }
        let text = std::str::from_utf8(&rest[..len]).ok()?;
        self.0 = &rest[len + 1..];
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Passthrough;
    use proptest::prelude::*;

    fn usage(n: u64) -> Usage {
        Usage {
            prompt_tokens: n,
            completion_tokens: n + 1,
            total_tokens: 2 * n + 1,
            cached_tokens: n / 2,
            cache_write_tokens: n / 3,
            reasoning_tokens: n / 4,
            ..Usage::default()
        }
    }

    /// A context with the members every request has (the rarer ones at their defaults).
    fn context(
        request_id: String,
        attempt: u32,
        now_unix_ms: u64,
        [stream, include_usage, drop_params]: [bool; 3],
        endpoint: String,
    ) -> RequestContext {
        RequestContext {
            request_id,
            attempt,
            now_unix_ms,
            stream,
            include_usage,
            drop_params,
            endpoint,
            ..RequestContext::default()
        }
    }

    proptest! {
        #[test]
        fn contexts_are_written_as_serde_writes_them(
            request_id in ".{0,40}",
            attempt: u32,
            now_unix_ms: u64,
            flags in proptest::array::uniform3(any::<bool>()),
            endpoint in prop_oneof![Just(String::new()), Just("chat".to_owned()), ".{1,12}"],
            rare in 0..4u8,
        ) {
            let mut context = context(request_id, attempt, now_unix_ms, flags, endpoint);
            match rare {
                1 => context.auth_token = Some("tok\"en".to_owned()),
                2 => context.content_type = Some("multipart/form-data; boundary=x".to_owned()),
                3 => context.passthrough = Some(Passthrough {
                    method: "POST".to_owned(),
                    path: "/v1/messages?beta=true".to_owned(),
                }),
                _ => {}
            }
            prop_assert_eq!(context_json(&context), serde_json::to_vec(&context).unwrap());
        }

        #[test]
        fn infos_are_written_as_serde_writes_them(
            tokens in proptest::option::of(0..u64::MAX / 4),
            finish_reason in proptest::option::of(".{0,20}"),
            model in proptest::option::of("[a-z0-9./\\-\"\\\\]{0,30}"),
            rare in 0..6u8,
        ) {
            let mut info = ResponseInfo {
                usage: tokens.map(usage),
                finish_reason,
                model,
                content_type: None,
            };
            match (rare, &mut info.usage) {
                (1, Some(u)) => u.images = 2,
                (2, Some(u)) => u.audio_input_ms = 1_500,
                (3, Some(u)) => u.input_characters = 12,
                (4, Some(u)) => u.queries = 1,
                (5, _) => info.content_type = Some("audio/mpeg".to_owned()),
                _ => {}
            }
            let expected = if info.is_empty() {
                Vec::new()
            } else {
                serde_json::to_vec(&info).unwrap()
            };
            prop_assert_eq!(info_json(&info), expected);
        }

        /// What the writers write reads back through the shortcut, equal to what serde reads.
        #[test]
        fn written_blobs_read_back_without_serde(
            request_id in ".{0,40}",
            attempt: u32,
            now_unix_ms: u64,
            flags in proptest::array::uniform3(any::<bool>()),
            endpoint in prop_oneof![Just(String::new()), ".{1,12}"],
            tokens in proptest::option::of(any::<u64>()),
            finish_reason in proptest::option::of(".{0,20}"),
            model in proptest::option::of(".{0,30}"),
        ) {
            let context = context(request_id, attempt, now_unix_ms, flags, endpoint);
            let bytes = context_json(&context);
            let read = read_context(&bytes);
            let escapes = context.request_id.contains(['"', '\\'])
                || context.request_id.chars().any(char::is_control)
                || context.endpoint.contains(['"', '\\'])
                || context.endpoint.chars().any(char::is_control);
            prop_assert!(read.is_some() || escapes);
            if let Some(read) = read {
                prop_assert_eq!(&read, &context);
            }
            let info = ResponseInfo {
                usage: tokens.map(|n| usage(n / 4)),
                finish_reason,
                model,
                content_type: None,
            };
            let bytes = info_json(&info);
            if let Some(read) = read_info(&bytes) {
                prop_assert_eq!(read, info);
            }
        }

        /// On any input the shortcut either declines or agrees with serde: cut, changed or
        /// extended blobs included.
        #[test]
        fn the_shortcut_never_disagrees_with_serde(
            tokens in proptest::option::of(any::<u64>()),
            model in proptest::option::of("[a-z\"\\\\ ]{0,8}"),
            cut in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b' '), Just(b','), Just(b'0'), Just(b'9'), Just(b'"'),
                Just(b'}'), Just(b'.'), Just(b'e'), Just(b'-'), any::<u8>()],
            edit in 0..3u8,
        ) {
            let context = RequestContext {
                request_id: "0123456789abcdef".to_owned(),
                attempt: 1,
                now_unix_ms: 1_796_685_000_000,
                stream: true,
                endpoint: "chat".to_owned(),
                ..RequestContext::default()
            };
            let info = ResponseInfo {
                usage: tokens.map(|n| usage(n / 4)),
                finish_reason: Some("stop".to_owned()),
                model,
                content_type: None,
            };
            for mut bytes in [context_json(&context), info_json(&info)] {
                match edit {
                    0 => bytes.truncate(cut.index(bytes.len() + 1)),
                    1 if !bytes.is_empty() => {
                        let i = at.index(bytes.len());
                        bytes[i] = byte;
                    }
                    _ => bytes.insert(at.index(bytes.len() + 1), byte),
                }
                if let Some(read) = read_context(&bytes) {
                    prop_assert_eq!(Some(read), serde_json::from_slice(&bytes).ok());
                }
                if let Some(read) = read_info(&bytes) {
                    prop_assert_eq!(Some(read), serde_json::from_slice(&bytes).ok());
                }
            }
        }
    }
}
