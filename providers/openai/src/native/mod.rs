//! OpenAI's endpoints beyond chat, embeddings and completions, served natively: the Responses
//! API, image generation, transcription, speech and pass-through routes. Bodies go upstream as
//! the client sent them (only `model` is pointed at the deployment) and come back unchanged;
//! the plugin reads the side data (usage, model, content type, the end of a stream).
//!
//! Shared by the `openai` and `azure_openai` plugins, which speak this wire format alike: the
//! Azure crate includes this directory by path (a dependency on the openai crate would link
//! its plugin entry symbols into the Azure plugin too). Provider-neutral pieces (gateway
//! members, pass-through requests, raw event forwarding) are in `switchyard_plugin_sdk::native`.

pub(crate) mod answers;
pub(crate) mod multipart;
pub(crate) mod stream;

pub(crate) use stream::endpoint_decoder;
pub use stream::{EndpointDecoder, EventDecoder};

use switchyard_plugin_sdk::{ProviderError, RequestContext, UpstreamRequest};

/// A `POST` of a JSON endpoint's body, asking for events when it streams.
pub(crate) fn post_json(url: String, body: Vec<u8>, stream: bool) -> UpstreamRequest {
    let request = UpstreamRequest::post_json(url, body);
    if stream {
        request.header("accept", "text/event-stream")
    } else {
        request
    }
}

/// A transcription request: the client's multipart form with its `model` field set to the
/// deployment's, sent with the form's content type (and so its boundary).
pub(crate) fn transcription_request(
    url: String,
    body: &[u8],
    model: &str,
    context: &RequestContext,
) -> Result<UpstreamRequest, ProviderError> {
    let content_type = context.content_type.as_deref().ok_or_else(|| {
        ProviderError::invalid_request(
            "audio_transcriptions: the request has no Content-Type; a multipart/form-data form \
             with its boundary is required",
        )
    })?;
    let body = multipart::set_model(body, content_type, model)?;
    Ok(UpstreamRequest {
        method: "POST".to_owned(),
        url,
        headers: vec![("content-type".to_owned(), content_type.to_owned())],
        body,
        ..UpstreamRequest::default()
    })
}
