//! An OpenAI-shaped provider whose bearer token comes from a token endpoint through
//! `auth_step`, like Vertex AI's service accounts: `{api_base}/token` answers
//! `{"access_token": ..., "expires_in": ...}`. The host performs the fetch and caches the token.

use switchyard_plugin_sdk::{
    openai, AuthAction, AuthInput, DeploymentConfig, ErrorKind, ParsedResponse, Plugin,
    PluginMetadata, Provider, ProviderError, RequestContext, RequestIn, ResponseHead,
    UpstreamRequest,
};

#[derive(Debug)]
pub struct TokenAuthPlugin;

impl Plugin for TokenAuthPlugin {
    type Provider = TokenAuth;

    fn metadata() -> PluginMetadata {
        let mut m = PluginMetadata::new("token_auth", env!("CARGO_PKG_VERSION"));
        m.providers = vec!["token_auth".to_owned()];
        m.endpoints = vec!["chat".to_owned()];
        m.uses_auth_step = true;
        m.credential_files = vec!["client_secret".to_owned()];
        m
    }

    fn instantiate(config: DeploymentConfig) -> Result<TokenAuth, ProviderError> {
        let base = config
            .api_base
            .ok_or_else(|| ProviderError::invalid_request("api_base is required"))?;
        let secret = config
            .params
            .get("client_secret")
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_owned())
            .ok_or_else(|| ProviderError::invalid_request("client_secret is required"))?;
        Ok(TokenAuth {
            base: base.trim_end_matches('/').to_owned(),
            model: config.model,
            secret,
        })
    }
}

#[derive(Debug)]
pub struct TokenAuth {
    base: String,
    model: String,
    secret: String,
}

impl Provider for TokenAuth {
    type Decoder = openai::ChatStreamDecoder;

    fn auth_step(&self, input: &AuthInput) -> Result<AuthAction, ProviderError> {
        let Some(response) = &input.response else {
            return Ok(AuthAction::Fetch {
                method: "POST".to_owned(),
                url: format!("{}/token", self.base),
                headers: vec![(
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                )],
                body: format!(
                    "grant_type=client_credentials&client_secret={}",
                    self.secret
                ),
            });
        };
        let body: serde_json::Value = serde_json::from_str(&response.body).unwrap_or_default();
        if response.status != 200 {
            return Err(ProviderError::new(
                ErrorKind::Authentication,
                format!(
                    "token endpoint refused: {}",
                    body["error"].as_str().unwrap_or("?")
                ),
            ));
        }
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| ProviderError::bad_response("no access_token in the token response"))?;
        let expires_in = body["expires_in"].as_u64().unwrap_or(3600);
        Ok(AuthAction::Token {
            token: token.to_owned(),
            expires_at_unix_ms: input.now_unix_ms + expires_in * 1000,
        })
    }

    fn build_request(&self, request: RequestIn<'_>) -> Result<UpstreamRequest, ProviderError> {
        let token = request.context.auth_token.as_deref().ok_or_else(|| {
            ProviderError::new(ErrorKind::Authentication, "no token from auth_step")
        })?;
        let mut body = openai::RawObject::parse(request.body)?;
        body.set("model", &self.model);
        Ok(
            UpstreamRequest::post_json(format!("{}/chat/completions", self.base), body.to_vec())
                .header("authorization", format!("Bearer {token}")),
        )
    }

    fn parse_response(
        &self,
        _head: &ResponseHead,
        body: &[u8],
    ) -> Result<ParsedResponse, ProviderError> {
        openai::parse_chat_response("token_auth", body)
    }

    fn classify_error(&self, head: &ResponseHead, body: &[u8]) -> ProviderError {
        openai::classify_error("token_auth", head, body)
    }

    fn stream_decoder(
        &self,
        context: &RequestContext,
    ) -> Result<openai::ChatStreamDecoder, ProviderError> {
        Ok(openai::ChatStreamDecoder::new("token_auth", context))
    }
}

switchyard_plugin_sdk::export_provider!(TokenAuthPlugin);
