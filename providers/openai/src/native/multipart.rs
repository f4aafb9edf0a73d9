//! Just enough of `multipart/form-data` (RFC 7578 over RFC 2046) to point a transcription
//! request at the deployment's model: the `model` field's value is replaced and every other
//! byte of the client's form (the audio file above all) is forwarded as it came.

use switchyard_plugin_sdk::ProviderError;

/// RFC 2046 caps a boundary at 70 characters.
const MAX_BOUNDARY: usize = 70;

fn invalid(problem: impl std::fmt::Display) -> ProviderError {
    ProviderError::invalid_request(format!("audio_transcriptions: {problem}"))
}

/// The parameters of a header value such as `multipart/form-data; boundary="a b"` or
/// `form-data; name="model"`: the part before the first `;`, then `(name, value)` pairs with
/// names lower-cased and quoted values unescaped.
fn header_params(value: &str) -> (&str, Vec<(String, String)>) {
    let (head, mut rest) = value.split_once(';').unwrap_or((value, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', '\t', ';']);
        if rest.is_empty() {
            break;
        }
        let name_end = rest.find(['=', ';']).unwrap_or(rest.len());
        let name = rest[..name_end].trim().to_ascii_lowercase();
        rest = &rest[name_end..];
        let Some(after_eq) = rest.strip_prefix('=') else {
            continue;
        };
        let after_eq = after_eq.trim_start_matches([' ', '\t']);
        let (value, next) = match after_eq.strip_prefix('"') {
            Some(quoted) => {
                let mut out = String::new();
                let mut chars = quoted.char_indices();
                let mut end = quoted.len();
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, escaped)) = chars.next() {
                                out.push(escaped);
                            }
                        }
                        '"' => {
                            end = i + 1;
                            break;
                        }
                        c => out.push(c),
                    }
                }
                (out, &quoted[end.min(quoted.len())..])
            }
            None => {
                let end = after_eq.find(';').unwrap_or(after_eq.len());
                (after_eq[..end].trim().to_owned(), &after_eq[end..])
            }
        };
        params.push((name, value));
        rest = next;
    }
    (head.trim(), params)
}

/// The boundary of a `multipart/form-data` content type.
pub(crate) fn boundary(content_type: &str) -> Result<String, ProviderError> {
    let (media_type, params) = header_params(content_type);
    if !media_type.eq_ignore_ascii_case("multipart/form-data") {
        return Err(invalid(format!(
            "the request's Content-Type is '{media_type}', not multipart/form-data"
        )));
    }
    let boundary = params
        .into_iter()
        .find(|(name, _)| name == "boundary")
        .map(|(_, value)| value)
        .ok_or_else(|| invalid("the multipart/form-data Content-Type has no boundary parameter"))?;
    if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
        return Err(invalid(format!(
            "the multipart boundary must have 1 to {MAX_BOUNDARY} characters, it has {}",
            boundary.len()
        )));
    }
    if boundary.contains(['\r', '\n']) {
        return Err(invalid("the multipart boundary contains a line break"));
    }
    Ok(boundary)
}

/// A boundary delimiter line found in the body.
#[derive(Debug, Clone, Copy)]
struct Delimiter {
    /// Where the delimiter starts: its leading CRLF (which belongs to it, not to the part
    /// before), or 0 for a delimiter opening the body.
    start: usize,
    /// Just after its line (the next part's first byte), or the body's end for the last one.
    after: usize,
    /// `--boundary--`: the end of the parts.
    close: bool,
}

fn skip_whitespace(body: &[u8], mut i: usize) -> usize {
    while matches!(body.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// Whether `dash_boundary` (`--boundary`) at `marker` starts a delimiter line; `start` is where
/// the delimiter begins. A `--boundary` followed by anything but optional white space and a
/// line end (or `--`) is content, as in a file that happens to contain the boundary text.
fn delimiter_at(
    body: &[u8],
    start: usize,
    marker: usize,
    dash_boundary: &[u8],
) -> Option<Delimiter> {
    if !body[marker..].starts_with(dash_boundary) {
        return None;
    }
    let end = marker + dash_boundary.len();
    if body[end..].starts_with(b"--") {
        let rest = skip_whitespace(body, end + 2);
        return (rest == body.len() || body[rest..].starts_with(b"\r\n")).then_some(Delimiter {
            start,
            after: body.len().min(rest + 2),
            close: true,
        });
    }
    let rest = skip_whitespace(body, end);
    body[rest..].starts_with(b"\r\n").then_some(Delimiter {
        start,
        after: rest + 2,
        close: false,
    })
}

/// The first delimiter at or after `from`: `CRLF--boundary`, or `--boundary` opening the body.
fn next_delimiter(body: &[u8], from: usize, dash_boundary: &[u8]) -> Option<Delimiter> {
    if from == 0 {
        if let Some(d) = delimiter_at(body, 0, 0, dash_boundary) {
            return Some(d);
        }
    }
    let mut i = from;
    while let Some(offset) = body.get(i..)?.iter().position(|&b| b == b'\r') {
        let cr = i + offset;
        if body[cr..].starts_with(b"\r\n") {
            if let Some(d) = delimiter_at(body, cr, cr + 2, dash_boundary) {
                return Some(d);
            }
        }
        i = cr + 1;
    }
    None
}

/// The form-field name of a part's headers (`Content-Disposition: form-data; name="…"`).
fn field_name(headers: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    text.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        let (_, params) = header_params(value);
        params
            .into_iter()
            .find(|(n, _)| n == "name")
            .map(|(_, v)| v)
    })
}

/// `body` (a `multipart/form-data` form whose type is `content_type`) with the value of its
/// `model` field set to `model`; a form without one gets it as a last field. Everything else
/// is copied byte for byte.
pub(crate) fn set_model(
    body: &[u8],
    content_type: &str,
    model: &str,
) -> Result<Vec<u8>, ProviderError> {
    if model.contains(['\r', '\n']) {
        return Err(invalid("the deployment's model name contains a line break"));
    }
    let boundary = boundary(content_type)?;
    let dash_boundary = format!("--{boundary}").into_bytes();
    let first = next_delimiter(body, 0, &dash_boundary).ok_or_else(|| {
        invalid(format!(
            "the multipart body has no boundary line '--{boundary}' (the boundary of its Content-Type)"
        ))
    })?;
    // Spans of `model` values, and where the closing delimiter starts.
    let mut model_values = Vec::new();
    let mut delimiter = first;
    while !delimiter.close {
        let part_start = delimiter.after;
        let next = next_delimiter(body, part_start, &dash_boundary).ok_or_else(|| {
            invalid(format!(
                "the multipart body does not end with the closing boundary '--{boundary}--'"
            ))
        })?;
        let part = &body[part_start..next.start];
        // A part without headers starts with its blank line and is no named field.
        if !part.starts_with(b"\r\n") {
            let blank = part
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .ok_or_else(|| {
                    invalid("a part of the multipart body has no blank line after its headers")
                })?;
            if field_name(&part[..blank]).as_deref() == Some("model") {
                model_values.push(part_start + blank + 4..next.start);
            }
        }
        delimiter = next;
    }
    let close_at = delimiter.start;

    let mut out = Vec::with_capacity(body.len() + model.len() + dash_boundary.len() + 64);
    let mut copied = 0;
    for span in &model_values {
        out.extend_from_slice(&body[copied..span.start]);
        out.extend_from_slice(model.as_bytes());
        copied = span.end;
    }
    if model_values.is_empty() {
        out.extend_from_slice(&body[..close_at]);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&dash_boundary);
        out.extend_from_slice(b"\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n");
        out.extend_from_slice(model.as_bytes());
        copied = close_at;
    }
    out.extend_from_slice(&body[copied..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::ErrorKind;

    const CT: &str = "multipart/form-data; boundary=XyZ123";

    fn form(parts: &[(&str, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (headers, content) in parts {
            body.extend_from_slice(b"--XyZ123\r\n");
            body.extend_from_slice(headers.as_bytes());
            body.extend_from_slice(b"\r\n\r\n");
            body.extend_from_slice(content);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--XyZ123--\r\n");
        body
    }

    #[test]
    fn only_the_model_value_changes() {
        let file: &[u8] = b"RIFF\x00\x01\xff binary audio\r\n";
        let body = form(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav",
                file,
            ),
            ("Content-Disposition: form-data; name=\"model\"", b"whisper-group"),
            ("content-disposition: form-data; name=response_format", b"verbose_json"),
        ]);
        let out = set_model(&body, CT, "whisper-1").unwrap();
        let expected = form(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav",
                file,
            ),
            ("Content-Disposition: form-data; name=\"model\"", b"whisper-1"),
            ("content-disposition: form-data; name=response_format", b"verbose_json"),
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn the_boundary_inside_a_file_is_content_not_a_delimiter() {
        // The boundary text in the file: mid-line, after a line break but followed by more
        // text, and as a would-be closing line followed by more text.
        let file: &[u8] =
            b"a --XyZ123 b\r\n--XyZ123x\r\n--XyZ123--tail\r\nname=\"model\"\r\n\r\n--XyZ12";
        let body = form(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"model\"",
                file,
            ),
            ("Content-Disposition: form-data; name=\"model\"", b"m"),
        ]);
        let out = set_model(&body, CT, "gpt-4o-transcribe").unwrap();
        let expected = form(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"model\"",
                file,
            ),
            (
                "Content-Disposition: form-data; name=\"model\"",
                b"gpt-4o-transcribe",
            ),
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn a_quoted_boundary_a_preamble_an_epilogue_and_padding_are_kept() {
        let ct = "Multipart/Form-Data; charset=utf-8; boundary=\"a;b c\"";
        let body: &[u8] = b"preamble\r\n--a;b c  \r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nold\r\n--a;b c--\r\nepilogue";
        let out = set_model(body, ct, "new").unwrap();
        assert_eq!(
            out,
            b"preamble\r\n--a;b c  \r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nnew\r\n--a;b c--\r\nepilogue"
        );
    }

    #[test]
    fn a_form_without_a_model_field_gets_one() {
        let body = form(&[(
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"",
            b"ID3",
        )]);
        let out = set_model(&body, CT, "whisper-1").unwrap();
        let expected = form(&[
            (
                "Content-Disposition: form-data; name=\"file\"; filename=\"a.mp3\"",
                b"ID3",
            ),
            (
                "Content-Disposition: form-data; name=\"model\"",
                b"whisper-1",
            ),
        ]);
        assert_eq!(out, expected);
    }

    #[test]
    fn malformed_forms_are_invalid_requests_naming_the_problem() {
        let body = form(&[("Content-Disposition: form-data; name=\"model\"", b"m")]);
        let cases: [(&str, &[u8], &str); 6] = [
            ("multipart/form-data", &body, "no boundary parameter"),
            ("application/json", &body, "not multipart/form-data"),
            (
                "multipart/form-data; boundary=",
                &body,
                "1 to 70 characters",
            ),
            (
                "multipart/form-data; boundary=other",
                &body,
                "no boundary line '--other'",
            ),
            (
                CT,
                b"--XyZ123\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nm",
                "closing boundary",
            ),
            (
                CT,
                b"--XyZ123\r\nContent-Disposition: form-data; name=\"model\"\r\n--XyZ123--",
                "no blank line",
            ),
        ];
        for (ct, body, needle) in cases {
            let e = set_model(body, ct, "whisper-1").unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidRequest);
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
            assert!(e.message.starts_with("audio_transcriptions: "));
        }
    }
}
