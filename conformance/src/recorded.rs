//! Readers for the recorded provider traffic in `../shared/fixtures/recorded/`, as it is there:
//! VCR.py cassettes (raw bodies, pydantic-ai's `parsed_body`, gzip and eventstream `!!binary`
//! bodies) and vercel/ai `*.chunks.txt` response-only streams.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use serde_yaml::Value as Yaml;

/// One recorded HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Full URL as recorded, fragment stripped.
    pub uri: String,
    /// Lower-case names; a multi-valued header repeats.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One recorded HTTP response, body decompressed when it was stored gzipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request/response pair. Response-only sources have no request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interaction {
    pub request: Option<RecordedRequest>,
    pub response: RecordedResponse,
}

/// Everything recorded in one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recording {
    pub interactions: Vec<Interaction>,
}

/// Reads a recorded file by its extension.
pub fn read_recording(path: &Path) -> Result<Recording, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    if name.ends_with(".chunks.txt") {
        return Ok(read_chunks_txt(&text));
    }
    if name.ends_with(".yaml") || name.ends_with(".yml") {
        return read_cassette(&text).map_err(|e| format!("{name}: {e}"));
    }
    Err(format!(
        "{name}: unknown recording format (expected .yaml or .chunks.txt)"
    ))
}

/// vercel/ai chunks: one SSE `data:` payload per line; replayed as an OpenAI-style SSE body.
fn read_chunks_txt(text: &str) -> Recording {
    let mut body = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        body.extend_from_slice(b"data: ");
        body.extend_from_slice(line.as_bytes());
        body.extend_from_slice(b"\n\n");
    }
    Recording {
        interactions: vec![Interaction {
            request: None,
            response: RecordedResponse {
                status: 200,
                headers: vec![("content-type".to_owned(), "text/event-stream".to_owned())],
                body,
            },
        }],
    }
}

fn read_cassette(text: &str) -> Result<Recording, String> {
    // serde_yaml resolves the standard `!!binary` tag away (the value arrives as its base64
    // text); a local `!binary` tag survives as `Yaml::Tagged`, so bytes stay recognisable.
    let text = text.replace("!!binary", "!binary");
    let doc: Yaml = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
    let items = doc
        .get("interactions")
        .and_then(Yaml::as_sequence)
        .ok_or("no 'interactions' list")?;
    let mut interactions = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |e: String| format!("interactions[{i}]: {e}");
        let request = item.get("request").ok_or_else(|| at("no request".into()))?;
        let response = item
            .get("response")
            .ok_or_else(|| at("no response".into()))?;
        interactions.push(Interaction {
            request: Some(read_request(request).map_err(at)?),
            response: read_response(response).map_err(at)?,
        });
    }
    Ok(Recording { interactions })
}

fn read_headers(v: Option<&Yaml>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let Some(Yaml::Mapping(map)) = v else {
        return Ok(out);
    };
    for (name, values) in map {
        let name = name
            .as_str()
            .ok_or("header name is not a string")?
            .to_ascii_lowercase();
        let values: Vec<&Yaml> = match values {
            Yaml::Sequence(list) => list.iter().collect(),
            other => vec![other],
        };
        for value in values {
            let bytes = scalar_bytes(value)?;
            out.push((name.clone(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    Ok(out)
}

/// The bytes of a scalar: a string, a number, or a `!!binary` base64 block.
fn scalar_bytes(v: &Yaml) -> Result<Vec<u8>, String> {
    match v {
        Yaml::String(s) => Ok(s.as_bytes().to_vec()),
        Yaml::Number(n) => Ok(n.to_string().into_bytes()),
        Yaml::Bool(b) => Ok(b.to_string().into_bytes()),
        Yaml::Null => Ok(Vec::new()),
        Yaml::Tagged(tagged) if tagged.tag == "binary" => {
            let text = tagged
                .value
                .as_str()
                .ok_or("!!binary value is not a string")?;
            let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("bad !!binary base64: {e}"))
        }
        other => Err(format!("expected a scalar, found {other:?}")),
    }
}

/// pydantic-ai's replay serialization of a `parsed_body`: JSON of the mapping.
fn parsed_body(v: &Yaml) -> Result<Vec<u8>, String> {
    let json: serde_json::Value = serde_yaml::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_vec(&json).map_err(|e| e.to_string())
}

fn body_of(node: &Yaml) -> Result<Vec<u8>, String> {
    if let Some(parsed) = node.get("parsed_body") {
        return parsed_body(parsed);
    }
    match node.get("body") {
        None | Some(Yaml::Null) => Ok(Vec::new()),
        Some(Yaml::Mapping(m)) => match m.get("string") {
            Some(s) => scalar_bytes(s),
            None => Ok(Vec::new()),
        },
        Some(other) => scalar_bytes(other),
    }
}

/// Gzip is detected by its magic bytes, not by the header (some recordings kept the header
/// with an already-decoded body).
fn gunzip_if_needed(body: Vec<u8>) -> Result<Vec<u8>, String> {
    if body.len() < 2 || body[0] != 0x1f || body[1] != 0x8b {
        return Ok(body);
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&body[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("bad gzip body: {e}"))?;
    Ok(out)
}

fn read_request(node: &Yaml) -> Result<RecordedRequest, String> {
    let uri = node.get("uri").and_then(Yaml::as_str).unwrap_or_default();
    let uri = uri.split('#').next().unwrap_or_default().to_owned();
    Ok(RecordedRequest {
        method: node
            .get("method")
            .and_then(Yaml::as_str)
            .unwrap_or("POST")
            .to_owned(),
        uri,
        headers: read_headers(node.get("headers"))?,
        body: gunzip_if_needed(body_of(node)?)?,
    })
}

fn read_response(node: &Yaml) -> Result<RecordedResponse, String> {
    let status = node
        .get("status")
        .and_then(|s| s.get("code"))
        .and_then(Yaml::as_u64)
        .ok_or("response has no status.code")? as u16;
    let mut headers = read_headers(node.get("headers"))?;
    let raw = body_of(node)?;
    let was_gzip = raw.starts_with(&[0x1f, 0x8b]);
    let body = gunzip_if_needed(raw)?;
    if was_gzip {
        // The body handed to plugins is decoded, as the host's HTTP client would hand it.
        headers.retain(|(n, _)| n != "content-encoding" && n != "content-length");
    }
    Ok(RecordedResponse {
        status,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_raw_parsed_and_binary_bodies() {
        let yaml = r#"
interactions:
- request:
    body: '{"model":"m"}'
    headers: {Content-Type: [application/json]}
    method: POST
    uri: https://api.example/v1/chat/completions#stream
  response:
    body:
      string: "data: x\n\n"
    headers: {}
    status: {code: 200, message: OK}
- request:
    method: POST
    parsed_body: {b: 1, a: "x"}
    uri: https://api.example/v1/x
  response:
    parsed_body: {ok: true}
    status: {code: 404, message: Not Found}
- request:
    method: POST
    uri: https://api.example/v1/y
  response:
    body:
      string: !!binary |
        H4sIAAAAAAACA6tWyirOz1OyUkrLz1eqBQCPI7j0DgAAAA==
    headers: {content-encoding: [gzip]}
    status: {code: 200, message: OK}
"#;
        let r = read_cassette(yaml).unwrap();
        assert_eq!(r.interactions.len(), 3);
        let first = &r.interactions[0];
        assert_eq!(
            first.request.as_ref().unwrap().uri,
            "https://api.example/v1/chat/completions"
        );
        assert_eq!(
            first.request.as_ref().unwrap().headers[0],
            ("content-type".into(), "application/json".into())
        );
        assert_eq!(first.response.body, b"data: x\n\n");
        let second = &r.interactions[1];
        assert_eq!(second.response.status, 404);
        let body: serde_json::Value =
            serde_json::from_slice(&second.request.as_ref().unwrap().body).unwrap();
        assert_eq!(body, serde_json::json!({"a": "x", "b": 1}));
        let third = &r.interactions[2];
        assert_eq!(third.response.body, br#"{"json":"foo"}"#);
        assert!(third.response.header("content-encoding").is_none());
    }

    #[test]
    fn chunks_txt_becomes_an_sse_body() {
        let r = read_chunks_txt("{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(
            r.interactions[0].response.body,
            b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\n"
        );
        assert!(r.interactions[0].request.is_none());
    }
}
