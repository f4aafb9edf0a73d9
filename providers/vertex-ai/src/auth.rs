//! Google OAuth for Vertex AI, sans IO: the plugin builds the token request (a service
//! account's RS256-signed JWT assertion, or an `authorized_user` refresh token), the host POSTs
//! it to `token_uri` and hands back the answer, which becomes a bearer token with its expiry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::Sha256;
use switchyard_plugin_sdk::{AuthAction, AuthResponse, ErrorKind, ProviderError};

/// The scope Vertex AI needs.
pub(crate) const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Google's token endpoint, when the credentials name none.
pub(crate) const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Lifetime asked for in the assertion (Google's maximum).
const ASSERTION_LIFETIME_S: u64 = 3600;
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Credentials from a Google credentials JSON (`vertex_credentials`,
/// `GOOGLE_APPLICATION_CREDENTIALS`).
pub(crate) enum Credentials {
    ServiceAccount {
        client_email: String,
        key_id: Option<String>,
        signer: Box<SigningKey<Sha256>>,
        token_uri: String,
        project_id: Option<String>,
    },
    AuthorizedUser {
        client_id: String,
        client_secret: String,
        refresh_token: String,
        token_uri: String,
        project_id: Option<String>,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key or the secrets.
        match self {
            Credentials::ServiceAccount { client_email, .. } => f
                .debug_struct("ServiceAccount")
                .field("client_email", client_email)
                .finish_non_exhaustive(),
            Credentials::AuthorizedUser { .. } => {
                f.debug_struct("AuthorizedUser").finish_non_exhaustive()
            }
        }
    }
}

fn config_error(param: &str, message: impl std::fmt::Display) -> ProviderError {
    ProviderError::invalid_request(format!("vertex_ai: {param}: {message}")).with_param(param)
}

fn string_field(v: &Value, key: &str, param: &str) -> Result<String, ProviderError> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| config_error(param, format!("the credentials have no '{key}'")))
}

/// Parses the RSA key of a service account (PKCS#8 `BEGIN PRIVATE KEY`, or PKCS#1).
pub(crate) fn parse_private_key(pem: &str) -> Result<RsaPrivateKey, String> {
    let pem = pem.trim();
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|_| "private_key is not a PEM-encoded RSA private key".to_owned())
}

impl Credentials {
    /// Reads a credentials JSON document; `param` names its source in errors (which never
    /// quote the document).
    pub(crate) fn parse(value: &Value, param: &str) -> Result<Credentials, ProviderError> {
        let owned;
        let doc = match value {
            Value::String(s) => {
                owned = serde_json::from_str::<Value>(s.trim()).map_err(|e| {
                    config_error(
                        param,
                        format!("not a credentials JSON document (nor a readable file): {e}"),
                    )
                })?;
                &owned
            }
            Value::Object(_) => value,
            _ => return Err(config_error(param, "expected a credentials JSON document")),
        };
        let token_uri = doc
            .get("token_uri")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or(DEFAULT_TOKEN_URI)
            .to_owned();
        let project_id = doc
            .get("project_id")
            .or_else(|| doc.get("quota_project_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        match doc.get("type").and_then(Value::as_str) {
            Some("service_account") | None => {
                let pem = string_field(doc, "private_key", param)?;
                let key = parse_private_key(&pem).map_err(|e| config_error(param, e))?;
                Ok(Credentials::ServiceAccount {
                    client_email: string_field(doc, "client_email", param)?,
                    key_id: doc
                        .get("private_key_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    signer: Box::new(SigningKey::<Sha256>::new(key)),
                    token_uri,
                    project_id,
                })
            }
            Some("authorized_user") => Ok(Credentials::AuthorizedUser {
                client_id: string_field(doc, "client_id", param)?,
                client_secret: string_field(doc, "client_secret", param)?,
                refresh_token: string_field(doc, "refresh_token", param)?,
                token_uri,
                project_id,
            }),
            Some(other) => Err(config_error(
                param,
                format!(
                    "credentials of type '{other}' are not supported (service_account or authorized_user)"
                ),
            )),
        }
    }

    pub(crate) fn project_id(&self) -> Option<&str> {
        match self {
            Credentials::ServiceAccount { project_id, .. }
            | Credentials::AuthorizedUser { project_id, .. } => project_id.as_deref(),
        }
    }

    /// The token request to make at `now_unix_ms`.
    pub(crate) fn token_request(&self, now_unix_ms: u64) -> Result<AuthAction, ProviderError> {
        let (url, body) = match self {
            Credentials::ServiceAccount {
                client_email,
                key_id,
                signer,
                token_uri,
                ..
            } => {
                let assertion = jwt_assertion(
                    signer,
                    client_email,
                    key_id.as_deref(),
                    token_uri,
                    now_unix_ms / 1000,
                )?;
                (
                    token_uri.clone(),
                    format!(
                        "grant_type={}&assertion={assertion}",
                        form_encode(JWT_BEARER)
                    ),
                )
            }
            Credentials::AuthorizedUser {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
                ..
            } => (
                token_uri.clone(),
                format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    form_encode(client_id),
                    form_encode(client_secret),
                    form_encode(refresh_token)
                ),
            ),
        };
        Ok(AuthAction::Fetch {
            method: "POST".to_owned(),
            url,
            headers: vec![(
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            )],
            body,
        })
    }
}

/// `application/x-www-form-urlencoded` value encoding.
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The signed JWT assertion of a service account (RFC 7523), valid for an hour from `iat`.
pub(crate) fn jwt_assertion(
    signer: &SigningKey<Sha256>,
    client_email: &str,
    key_id: Option<&str>,
    audience: &str,
    iat: u64,
) -> Result<String, ProviderError> {
    let mut header = json!({"alg": "RS256", "typ": "JWT"});
    if let Some(kid) = key_id {
        header["kid"] = json!(kid);
    }
    let claims = json!({
        "iss": client_email,
        "scope": SCOPE,
        "aud": audience,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME_S,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.try_sign(signing_input.as_bytes()).map_err(|e| {
        ProviderError::new(
            ErrorKind::Authentication,
            format!("vertex_ai: cannot sign the service-account assertion: {e}"),
        )
    })?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// The token endpoint's answer → a bearer token with its expiry, or the error it reports.
pub(crate) fn token_from_response(
    response: &AuthResponse,
    now_unix_ms: u64,
) -> Result<AuthAction, ProviderError> {
    let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
    if !(200..300).contains(&response.status) {
        let error = body.get("error").and_then(Value::as_str).unwrap_or("");
        let description = body
            .get("error_description")
            .and_then(Value::as_str)
            .unwrap_or("");
        let detail = match (error.is_empty(), description.is_empty()) {
            (false, false) => format!("{error}: {description}"),
            (false, true) => error.to_owned(),
            (true, false) => description.to_owned(),
            (true, true) => format!("HTTP {}", response.status),
        };
        let kind = if response.status >= 500 {
            ErrorKind::Unavailable
        } else {
            ErrorKind::Authentication
        };
        let status = if kind == ErrorKind::Authentication {
            401
        } else {
            503
        };
        return Err(ProviderError::new(
            kind,
            format!("vertex_ai: the token endpoint refused the credentials: {detail}"),
        )
        .with_status(status)
        .with_code("token_fetch_failed"));
    }
    let token = body
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ProviderError::bad_response(
                "vertex_ai: the token endpoint's answer has no access_token",
            )
        })?;
    let expires_in = match body.get("expires_in") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .unwrap_or(3600);
    Ok(AuthAction::Token {
        token: token.to_owned(),
        expires_at_unix_ms: now_unix_ms.saturating_add(expires_in.saturating_mul(1000)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::rand_core::{CryptoRng, RngCore};
    use rsa::signature::Verifier;
    use rsa::RsaPublicKey;

    /// A deterministic generator, only to make a throwaway test key.
    struct TestRng(u64);

    impl RngCore for TestRng {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            // splitmix64
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for chunk in dest.chunks_mut(8) {
                let bytes = self.next_u64().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }
    impl CryptoRng for TestRng {}

    #[test]
    fn jwt_is_rs256_signed_with_the_claims_google_expects() {
        let key = RsaPrivateKey::new(&mut TestRng(7), 1024).unwrap();
        let public = RsaPublicKey::from(&key);
        let signer = SigningKey::<Sha256>::new(key);
        let jwt = jwt_assertion(
            &signer,
            "sa@p.iam.gserviceaccount.com",
            Some("kid-1"),
            "https://oauth2.googleapis.com/token",
            1_700_000_000,
        )
        .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            json!({"alg": "RS256", "typ": "JWT", "kid": "kid-1"})
        );
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            json!({"iss": "sa@p.iam.gserviceaccount.com", "scope": SCOPE, "aud": "https://oauth2.googleapis.com/token",
                   "iat": 1_700_000_000u64, "exp": 1_700_003_600u64})
        );
        let signature =
            Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
        let verifier = VerifyingKey::<Sha256>::new(public);
        let signed = format!("{}.{}", parts[0], parts[1]);
        verifier.verify(signed.as_bytes(), &signature).unwrap();
        assert!(verifier.verify(b"tampered", &signature).is_err());
    }

    #[test]
    fn token_answers_and_refusals() {
        let ok = AuthResponse {
            status: 200,
            body: r#"{"access_token": "ya29.t", "expires_in": 3599, "token_type": "Bearer"}"#
                .into(),
        };
        assert_eq!(
            token_from_response(&ok, 1_000).unwrap(),
            AuthAction::Token {
                token: "ya29.t".into(),
                expires_at_unix_ms: 3_600_000
            }
        );
        let refused = AuthResponse {
            status: 400,
            body: r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#
                .into(),
        };
        let e = token_from_response(&refused, 0).unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Authentication, 401));
        assert!(e.message.contains("Invalid JWT Signature"));
        let e = token_from_response(
            &AuthResponse {
                status: 503,
                body: String::new(),
            },
            0,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        let e = token_from_response(
            &AuthResponse {
                status: 200,
                body: "{}".into(),
            },
            0,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadResponse);
    }

    #[test]
    fn credentials_parse_without_quoting_secrets() {
        let e = Credentials::parse(&json!("not json at all, secret=abc"), "vertex_credentials")
            .unwrap_err();
        assert!(!e.message.contains("secret=abc"));
        assert_eq!(e.param.as_deref(), Some("vertex_credentials"));
        let e = Credentials::parse(
            &json!({"type": "service_account", "client_email": "a@b", "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}),
            "vertex_credentials",
        )
        .unwrap_err();
        assert!(e.message.contains("not a PEM-encoded RSA private key"));
        let user = Credentials::parse(
            &json!({"type": "authorized_user", "client_id": "c", "client_secret": "s&t", "refresh_token": "r", "quota_project_id": "q"}),
            "GOOGLE_APPLICATION_CREDENTIALS",
        )
        .unwrap();
        assert_eq!(user.project_id(), Some("q"));
        assert!(!format!("{user:?}").contains("s&t"));
        match user.token_request(0).unwrap() {
            AuthAction::Fetch { url, body, .. } => {
                assert_eq!(url, DEFAULT_TOKEN_URI);
                assert_eq!(
                    body,
                    "grant_type=refresh_token&client_id=c&client_secret=s%26t&refresh_token=r"
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(Credentials::parse(&json!({"type": "external_account"}), "x").is_err());
    }
}
