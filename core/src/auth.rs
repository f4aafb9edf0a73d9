//! Bearer tokens for providers that authenticate through `auth_step` (Vertex AI service
//! accounts, Entra ID): the plugin describes the token request, the host performs it, and the
//! token is cached per deployment until shortly before it expires. Concurrent requests that
//! find no valid token wait for one refresh instead of each fetching their own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_plugin_sdk::host::ProviderInstance;
use switchyard_plugin_sdk::{AuthAction, AuthInput, AuthResponse, ErrorKind, UpstreamRequest};

use crate::error::{ErrorOrigin, GatewayError};
use crate::router::unix_ms;
use crate::transport::{read_to_end, Transport};

/// A token is refreshed this long before it expires, so no request carries a token that
/// expires in flight.
const REFRESH_MARGIN_MS: u64 = 60_000;
/// Most fetches a plugin may ask for to obtain one token.
const MAX_STEPS: usize = 4;
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_TOKEN_RESPONSE: usize = 1024 * 1024;

#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    expires_at_unix_ms: u64,
}

/// The token cache of one deployment.
#[derive(Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    fn valid(&self, now_ms: u64) -> Option<Arc<str>> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|c| c.expires_at_unix_ms > now_ms + REFRESH_MARGIN_MS)
            .map(|c| c.token.clone())
    }

    /// Forgets the token (the upstream rejected it).
    pub(crate) fn invalidate(&self) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A valid token, fetched through the plugin's auth steps when needed; `None` when the
    /// plugin needs none for this deployment (an API key instead).
    pub(crate) async fn token(
        &self,
        instance: &ProviderInstance,
        transport: &Transport,
        origin: &Arc<ErrorOrigin>,
    ) -> Result<Option<Arc<str>>, GatewayError> {
        if let Some(token) = self.valid(unix_ms()) {
            return Ok(Some(token));
        }
        let _refreshing = self.refresh.lock().await;
        // Another request may have refreshed it while this one waited.
        if let Some(token) = self.valid(unix_ms()) {
            return Ok(Some(token));
        }
        let mut input = AuthInput {
            now_unix_ms: unix_ms(),
            response: None,
        };
        for _ in 0..MAX_STEPS {
            let action = instance
                .auth_step(&input)
                .map_err(|e| GatewayError::from_provider(e, origin.clone()))?;
            match action {
                AuthAction::None => return Ok(None),
                AuthAction::Token {
                    token,
                    expires_at_unix_ms,
                } => {
                    let token: Arc<str> = token.into();
                    *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
                        token: token.clone(),
                        expires_at_unix_ms,
                    });
                    return Ok(Some(token));
                }
                AuthAction::Fetch {
                    method,
                    url,
                    headers,
                    body,
                } => {
                    let request = UpstreamRequest {
                        method,
                        url,
                        headers,
                        body: body.into_bytes(),
                        simulated: None,
                    };
                    let response = fetch(transport, request).await.map_err(|message| {
                        GatewayError::new(
                            ErrorKind::Unavailable,
                            format!("cannot obtain an access token: {message}"),
                        )
                        .with_status(502)
                        .with_code("token_fetch_failed")
                        .with_origin(origin.clone())
                    })?;
                    input = AuthInput {
                        now_unix_ms: unix_ms(),
                        response: Some(response),
                    };
                }
            }
        }
        Err(GatewayError::internal(format!(
            "the plugin asked for more than {MAX_STEPS} token fetches"
        ))
        .with_origin(origin.clone()))
    }
}

async fn fetch(transport: &Transport, request: UpstreamRequest) -> Result<AuthResponse, String> {
    let exchange = async {
        let response = transport.send(request).await.map_err(|e| e.to_string())?;
        let status = response.head.status;
        let body = read_to_end(response.body, MAX_TOKEN_RESPONSE)
            .await
            .map_err(|e| e.to_string())?;
        Ok(AuthResponse {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    tokio::time::timeout(FETCH_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("the token endpoint did not answer within {FETCH_TIMEOUT:?}"))?
}
