//! AWS Signature Version 4 for Bedrock requests, through the maintained `aws-sigv4` crate.
//!
//! Signing is pure: the time comes from the host (`RequestContext::now_unix_ms`), so the same
//! request at the same instant always gets the same signature, and every attempt (retries
//! included) is signed anew with its own clock. Only headers the host forwards unchanged are
//! signed: `host` (from the URL, as the HTTP client will send it), `content-type`, `x-amz-date`
//! and, with temporary credentials, `x-amz-security-token`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use switchyard_plugin_sdk::{ErrorKind, Header, ProviderError};

/// Static AWS credentials of a deployment.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret and the token never reach a log line; the key id is not secret.
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The `Host` header an HTTP client sends for `url`: the authority without user info, the port
/// only when it is not the scheme's default.
pub(crate) fn host_header(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host_port.is_empty() {
        return None;
    }
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    Some(
        host_port
            .strip_suffix(default_port)
            .unwrap_or(host_port)
            .to_ascii_lowercase(),
    )
}

/// Signs a request: returns the headers to add (`x-amz-date`, `authorization`, and
/// `x-amz-security-token` with temporary credentials). `headers` are the request's own headers
/// to cover with the signature (lower-case names; `host` is added from the URL).
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign_request(
    method: &str,
    url: &str,
    headers: &[Header],
    body: &[u8],
    credentials: &AwsCredentials,
    region: &str,
    service: &str,
    now_unix_ms: u64,
) -> Result<Vec<Header>, ProviderError> {
    let failed = |what: String| {
        ProviderError::new(
            ErrorKind::Internal,
            format!("bedrock: request signing failed: {what}"),
        )
    };
    let host = host_header(url).ok_or_else(|| failed(format!("no host in URL '{url}'")))?;
    let identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "switchyard-deployment",
    )
    .into();
    let time: SystemTime = UNIX_EPOCH + Duration::from_millis(now_unix_ms);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(e.to_string()))?
        .into();
    let signed_headers = std::iter::once(("host", host.as_str()))
        .chain(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let signable = SignableRequest::new(method, url, signed_headers, SignableBody::Bytes(body))
        .map_err(|e| failed(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| failed(e.to_string()))?
        .into_parts();
    let (out, _query) = instructions.into_parts();
    Ok(out
        .into_iter()
        .map(|h| (h.name().to_ascii_lowercase(), h.value().to_owned()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// SigV4 written down from the public specification, independently of the crate: canonical
    /// request → string to sign → derived key → signature. `canonical_uri` is given already
    /// encoded as the service expects (twice for every service but S3).
    #[allow(clippy::too_many_arguments)]
    fn reference_signature(
        method: &str,
        canonical_uri: &str,
        canonical_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        amz_date: &str,
        region: &str,
        service: &str,
        secret: &str,
    ) -> (String, String) {
        let mut sorted: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        sorted.sort();
        let canonical_headers: String = sorted.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
        let signed: Vec<&str> = sorted.iter().map(|(n, _)| n.as_str()).collect();
        let signed = signed.join(";");
        let creq = format!(
            "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed}\n{}",
            hex(&Sha256::digest(body))
        );
        let date = &amz_date[..8];
        let scope = format!("{date}/{region}/{service}/aws4_request");
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(creq.as_bytes()))
        );
        let k = hmac(format!("AWS4{secret}").as_bytes(), date);
        let k = hmac(&k, region);
        let k = hmac(&k, service);
        let k = hmac(&k, "aws4_request");
        (hex(&hmac(&k, &sts)), signed)
    }

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    /// 2015-08-30T12:36:00Z, the instant of the AWS SigV4 test suite.
    const SUITE_TIME_MS: u64 = 1_440_938_160_000;

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: AKID.to_owned(),
            secret_access_key: SECRET.to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    fn header<'a>(headers: &'a [Header], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in {headers:?}"))
    }

    /// The suite's `get-vanilla` case: `GET /` to `example.amazonaws.com`, service `service`.
    #[test]
    fn get_vanilla() {
        let out = sign_request(
            "GET",
            "https://example.amazonaws.com/",
            &[],
            b"",
            &creds(None),
            "us-east-1",
            "service",
            SUITE_TIME_MS,
        )
        .unwrap();
        assert_eq!(header(&out, "x-amz-date"), "20150830T123600Z");
        let (signature, signed) = reference_signature(
            "GET",
            "/",
            "",
            &[
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            b"",
            "20150830T123600Z",
            "us-east-1",
            "service",
            SECRET,
        );
        assert_eq!(
            signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_eq!(
            header(&out, "authorization"),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
            )
        );
    }

    /// The suite's `post-x-www-form-urlencoded` case: a form body, its content type signed.
    #[test]
    fn post_x_www_form_urlencoded() {
        let content_type = (
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        );
        let out = sign_request(
            "POST",
            "https://example.amazonaws.com/",
            std::slice::from_ref(&content_type),
            b"Param1=value1",
            &creds(None),
            "us-east-1",
            "service",
            SUITE_TIME_MS,
        )
        .unwrap();
        let (signature, signed) = reference_signature(
            "POST",
            "/",
            "",
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            b"Param1=value1",
            "20150830T123600Z",
            "us-east-1",
            "service",
            SECRET,
        );
        assert_eq!(signed, "content-type;host;x-amz-date");
        assert_eq!(
            signature,
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
        assert!(header(&out, "authorization").ends_with(&format!("Signature={signature}")));
    }

    /// A Bedrock Converse request shaped like the recorded ones (`converse_error_403` was signed
    /// at `X-Amz-Date: 20250303T005703Z` for `us-east-1`; the recording drops the Authorization
    /// header, so the canonical structure is what is compared): the model id's `:` is `%3A` in
    /// the URL and encoded once more in the canonical URI, and a session token is signed.
    #[test]
    fn a_bedrock_request_matches_the_reference_with_double_encoded_path() {
        let url = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-sonnet-20240229-v1%3A0/converse";
        let body =
            br#"{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{}}"#;
        // 2025-03-03T00:57:03Z
        let now = 1_740_963_423_000;
        let ct = ("content-type".to_owned(), "application/json".to_owned());
        let out = sign_request(
            "POST",
            url,
            std::slice::from_ref(&ct),
            body,
            &creds(Some("session-token-x")),
            "us-east-1",
            "bedrock",
            now,
        )
        .unwrap();
        assert_eq!(header(&out, "x-amz-date"), "20250303T005703Z");
        assert_eq!(header(&out, "x-amz-security-token"), "session-token-x");
        let (signature, signed) = reference_signature(
            "POST",
            "/model/anthropic.claude-3-sonnet-20240229-v1%253A0/converse",
            "",
            &[
                ("content-type", "application/json"),
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("x-amz-date", "20250303T005703Z"),
                ("x-amz-security-token", "session-token-x"),
            ],
            body,
            "20250303T005703Z",
            "us-east-1",
            "bedrock",
            SECRET,
        );
        assert_eq!(
            header(&out, "authorization"),
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250303/us-east-1/bedrock/aws4_request, SignedHeaders={signed}, Signature={signature}")
        );
    }

    #[test]
    fn host_header_drops_default_ports_and_user_info() {
        assert_eq!(
            host_header("https://bedrock-runtime.us-east-1.amazonaws.com/model/x").as_deref(),
            Some("bedrock-runtime.us-east-1.amazonaws.com")
        );
        assert_eq!(
            host_header("http://127.0.0.1:8080/model/x").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(
            host_header("https://u:p@h.example:443/").as_deref(),
            Some("h.example")
        );
        assert_eq!(host_header("nonsense"), None);
    }

    #[test]
    fn credentials_debug_hides_the_secret() {
        let text = format!("{:?}", creds(Some("tok")));
        assert!(!text.contains(SECRET) && !text.contains("tok\""), "{text}");
    }
}
