//! Providers that authenticate through `auth_step` (service accounts, client credentials): the
//! host performs the token fetch the plugin describes, caches the token per deployment, and
//! refreshes it once for all the requests waiting on it. Credential files named by the plugin
//! are read by the host (plugins never touch the file system).

use serde_json::json;
use switchyard_e2e::process::RunningGateway;
use switchyard_e2e::upstream::Upstream;
use switchyard_e2e::{plugin_file, plugin_file_name};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_fetched_once_cached_and_sent_as_bearer() {
    let upstream = Upstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        plugin_file("switchyard_testplugin_token_auth"),
        dir.path()
            .join(plugin_file_name("switchyard_provider_token_auth")),
    )
    .unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, "s3cret-from-file\n").unwrap();
    let yaml = format!(
        "model_list:\n- model_name: svc\n  litellm_params:\n    model: token_auth/m1\n    \
         api_base: '{base}'\n    client_secret: '{secret}'\n",
        base = upstream.api_base(""),
        secret = secret_file.display(),
    );
    let gw = RunningGateway::start(&yaml, dir.path());
    let client = switchyard_e2e::http_client();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let client = client.clone();
        let url = gw.url("/v1/chat/completions");
        tasks.spawn(async move {
            client
                .post(url)
                .json(&json!({"model": "svc", "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200, "{}", gw.stderr());
    }
    assert_eq!(
        upstream.tokens_issued(),
        1,
        "one fetch for 20 concurrent requests"
    );
    let requests = upstream.requests();
    let token_request = requests.iter().find(|r| r.path == "/v1/token").unwrap();
    assert_eq!(
        token_request.body, "grant_type=client_credentials&client_secret=s3cret-from-file",
        "the host read the credentials file"
    );
    let chats: Vec<_> = requests
        .iter()
        .filter(|r| r.path.ends_with("/chat/completions"))
        .collect();
    assert_eq!(chats.len(), 20);
    assert!(chats
        .iter()
        .all(|r| r.header("authorization") == Some("Bearer tok-1")));
    assert!(!gw.stderr().contains("tok-1"), "tokens never reach the log");
}
