use super::*;

/// Tests share one PostgreSQL database: they take turns.
static PG: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The stores to test: SQLite always, PostgreSQL when the test script started one
/// (`SWITCHYARD_TEST_DATABASE_URL`). Hold the guard for the whole test.
async fn stores() -> (
    Vec<(Store, Option<tempfile::TempDir>)>,
    tokio::sync::MutexGuard<'static, ()>,
) {
    let guard = PG.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap();
    let mut out = vec![(sqlite, Some(dir))];
    if let Ok(url) = std::env::var("SWITCHYARD_TEST_DATABASE_URL") {
        let pg = Store::open(&url).await.unwrap();
        // A fresh schema per run.
        on_pool!(pg, pool => {
            for t in ["spend_logs", "keys", "users", "teams", "responses", "_sqlx_migrations"] {
                sqlx::query(&format!("DROP TABLE IF EXISTS {t}")).execute(pool).await.unwrap();
            }
        });
        out.push((pg, None));
    }
    for (s, _) in &out {
        s.migrate().await.unwrap();
    }
    (out, guard)
}

fn log(id: &str, key: &str, nanos: i64, at: i64) -> SpendLog {
    SpendLog {
        request_id: id.into(),
        token_hash: Some(key.into()),
        user_id: Some("alice".into()),
        team_id: None,
        model_group: "gpt".into(),
        model: "gpt-4o".into(),
        deployment: "gpt.0".into(),
        provider: "openai".into(),
        spend_nanos: nanos,
        prompt_tokens: 10,
        completion_tokens: 5,
        status: "success".into(),
        start_time: at,
        end_time: at + 5,
    }
}

#[tokio::test]
async fn keys_round_trip_and_aliases_are_unique() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        let data = serde_json::json!({"models": ["gpt"], "max_budget": 5.0});
        store
            .put_key("h1", Some("alias"), Some("alice"), None, &data, 1)
            .await
            .unwrap();
        let e = store
            .put_key("h2", Some("alias"), None, None, &data, 2)
            .await
            .unwrap_err();
        assert!(
            matches!(e, StoreError::Conflict("key_alias")),
            "{}",
            store.kind()
        );
        let rows = store.load(Table::Keys).await.unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].data, data);
        assert!(store.rehash_key("h1", "h9", &data, 3).await.unwrap());
        assert_eq!(store.load(Table::Keys).await.unwrap()[0].id, "h9");
        assert_eq!(store.delete(Table::Keys, &["h9".into()]).await.unwrap(), 1);
        assert!(store.load(Table::Keys).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn spend_is_charged_once_per_request_and_respects_windows() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        let data = serde_json::json!({});
        store
            .put_key("k", None, Some("alice"), None, &data, 0)
            .await
            .unwrap();
        store.put(Table::Users, "alice", &data, 0).await.unwrap();
        let n = store
            .record_spend(&[
                log("r1", "k", 100, 10),
                log("r2", "k", 50, 20),
                log("r1", "k", 100, 10),
            ])
            .await
            .unwrap();
        assert_eq!(n, 2, "{}", store.kind());
        assert_eq!(
            store.record_spend(&[log("r2", "k", 50, 20)]).await.unwrap(),
            0
        );
        let key = &store.load(Table::Keys).await.unwrap()[0];
        assert_eq!(key.spend_nanos, 150);
        assert_eq!(store.load(Table::Users).await.unwrap()[0].spend_nanos, 150);

        store.reset_window(Table::Keys, "k", 1_000).await.unwrap();
        // A late log from the old window does not count in the new one.
        store
            .record_spend(&[log("r3", "k", 7, 999), log("r4", "k", 3, 1_001)])
            .await
            .unwrap();
        let key = &store.load(Table::Keys).await.unwrap()[0];
        assert_eq!((key.spend_nanos, key.window_start), (3, 1_000));

        let logs = store
            .spend_logs(&SpendFilter {
                token_hash: Some("k".into()),
                start: Some(15),
                ..SpendFilter::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = logs.iter().map(|l| l.request_id.as_str()).collect();
        assert_eq!(ids, ["r4", "r3", "r2"]);
    }
}

/// A batch larger than one INSERT statement: every row lands once, duplicates across statements
/// included, and the charge is the sum of the new rows.
#[tokio::test]
async fn spend_batches_span_several_statements() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        store
            .put_key("k", None, Some("alice"), None, &serde_json::json!({}), 0)
            .await
            .unwrap();
        let mut logs: Vec<SpendLog> = (0..150)
            .map(|i| log(&format!("r{i}"), "k", 2, 10))
            .collect();
        // Repeats of rows in the first statement, in the second and third.
        logs.push(log("r3", "k", 2, 10));
        logs.push(log("r100", "k", 2, 10));
        assert_eq!(
            store.record_spend(&logs).await.unwrap(),
            150,
            "{}",
            store.kind()
        );
        assert_eq!(store.load(Table::Keys).await.unwrap()[0].spend_nanos, 300);
        let all = store.spend_logs(&SpendFilter::default()).await.unwrap();
        assert_eq!(all.len(), 150);
        assert_eq!(all.iter().filter(|l| l.request_id == "r149").count(), 1);
        assert_eq!(all[0].end_time, 15);
    }
}

/// A key's charges in a batch are one statement when its window began before all of them; a
/// batch across a rollover still charges only the new window, logs of one start time summed.
#[tokio::test]
async fn a_batch_across_a_window_rollover_charges_only_the_new_window() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        let data = serde_json::json!({});
        for key in ["rolled", "steady"] {
            store
                .put_key(key, None, Some("alice"), None, &data, 0)
                .await
                .unwrap();
        }
        store.put(Table::Users, "alice", &data, 0).await.unwrap();
        store
            .reset_window(Table::Keys, "rolled", 1_000)
            .await
            .unwrap();
        store
            .record_spend(&[
                log("a", "rolled", 7, 999),
                log("b", "rolled", 3, 1_001),
                log("c", "rolled", 4, 1_001),
                log("d", "rolled", 5, 1_500),
                log("e", "steady", 11, 999),
                log("f", "steady", 13, 1_001),
            ])
            .await
            .unwrap();
        let spend =
            |rows: Vec<Row>, id: &str| rows.iter().find(|r| r.id == id).map(|r| r.spend_nanos);
        let keys = store.load(Table::Keys).await.unwrap();
        assert_eq!(spend(keys.clone(), "rolled"), Some(12), "{}", store.kind());
        assert_eq!(spend(keys, "steady"), Some(24), "{}", store.kind());
        let users = store.load(Table::Users).await.unwrap();
        assert_eq!(spend(users, "alice"), Some(43), "{}", store.kind());
    }
}

/// Batches go in power-of-two chunks: whatever their size, every row is written once.
#[tokio::test]
async fn spend_batches_of_any_size_are_written_whole() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        let mut total = 0;
        for (batch, size) in [1, 2, 3, 7, 31, 33, 63, 65, 127].into_iter().enumerate() {
            let logs: Vec<SpendLog> = (0..size)
                .map(|i| log(&format!("b{batch}-{i}"), "k", 1, 10))
                .collect();
            assert_eq!(
                store.record_spend(&logs).await.unwrap(),
                size,
                "{}",
                store.kind()
            );
            total += size;
        }
        let all = store.spend_logs(&SpendFilter::default()).await.unwrap();
        assert_eq!(all.len(), total, "{}", store.kind());
    }
}

#[test]
fn urls_lose_their_password_in_messages() {
    assert_eq!(
        redact_url("postgres://sy:secret@127.0.0.1:5432/db"),
        "postgres://sy:***@127.0.0.1:5432/db"
    );
    assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
}

#[tokio::test]
async fn responses_are_kept_per_owner() {
    let (stores, _turn) = stores().await;
    for (store, _dir) in stores {
        let data = serde_json::json!({"response": {"id": "resp_1"}, "input": [], "output": []});
        store.put_response("resp_1", "h1", &data, 1).await.unwrap();
        assert_eq!(store.response("resp_1", "h1").await.unwrap(), Some(data));
        // Another key cannot read or delete it.
        assert_eq!(store.response("resp_1", "h2").await.unwrap(), None);
        assert!(!store.delete_response("resp_1", "h2").await.unwrap());
        assert!(store.delete_response("resp_1", "h1").await.unwrap());
        assert_eq!(store.response("resp_1", "h1").await.unwrap(), None);
    }
}

/// Master-key requests have no key, user or team: their spend logs stay out of those indexes,
/// and a lookup by key still uses its (partial) index.
#[tokio::test]
async fn spend_logs_without_a_key_stay_out_of_the_key_index() {
    let (stores, _guard) = stores().await;
    // The partial indexes are SQLite's, the first store.
    let (store, _) = &stores[0];
    let mut anonymous = log("m1", "k", 1, 10);
    anonymous.token_hash = None;
    anonymous.user_id = None;
    store
        .record_spend(&[anonymous, log("k1", "k", 1, 10)])
        .await
        .unwrap();
    let Backend::Sqlite(pool) = &store.backend else {
        unreachable!("opened a SQLite file")
    };
    for (index, column, entries) in [
        ("spend_logs_key", "token_hash", 1),
        ("spend_logs_user", "user_id", 1),
        ("spend_logs_team", "team_id", 0),
    ] {
        let (n,): (i64,) = sqlx::query_as(&format!(
            "SELECT count(*) FROM spend_logs INDEXED BY {index} WHERE {column} IS NOT NULL"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(n, entries, "{index}");
    }
    let plan: Vec<(i64, i64, i64, String)> =
        sqlx::query_as("EXPLAIN QUERY PLAN SELECT * FROM spend_logs WHERE token_hash = ?")
            .bind("k")
            .fetch_all(pool)
            .await
            .unwrap();
    assert!(
        plan.iter()
            .any(|(.., detail)| detail.contains("spend_logs_key")),
        "{plan:?}"
    );
    let logs = store
        .spend_logs(&SpendFilter {
            token_hash: Some("k".into()),
            ..SpendFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
}
