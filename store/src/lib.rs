//! # switchyard-store
//!
//! Persistence for tenancy: virtual keys, users, teams (JSON documents with the columns lookups
//! need) and spend logs, on SQLite (a file, created on first start) or PostgreSQL. Migrations
//! are embedded and run by [`Store::migrate`].
//!
//! The gateway keeps keys, budgets and counters in memory and uses the store to load them at
//! start-up, to write admin changes through, and to persist spend in batches. Spend is charged
//! once per request id: [`Store::record_spend`] inserts the log and adds its amount to the key,
//! user and team rows in one transaction, and does nothing for a request id it has seen.
//!
//! Money is in nano-dollars (`i64`, 1e-9 USD): exact, and enough for 9.2 billion dollars.

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row as _;
use std::str::FromStr;
use std::time::Duration;

/// A store failure. Messages never contain the database URL's password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field is already taken (`key_alias`).
    #[error("{0} is already in use")]
    Conflict(&'static str),
    #[error("database error: {0}")]
    Database(String),
    #[error("cannot open the database: {0}")]
    Open(String),
}

fn db_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            return StoreError::Conflict("key_alias");
        }
    }
    StoreError::Database(e.to_string())
}

/// The entity tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Table {
    Keys,
    Users,
    Teams,
}

impl Table {
    /// The table's name, as in the schema (and in change notices between replicas).
    pub fn name(self) -> &'static str {
        match self {
            Table::Keys => "keys",
            Table::Users => "users",
            Table::Teams => "teams",
        }
    }

    /// The table named `name`.
    pub fn from_name(name: &str) -> Option<Table> {
        [Table::Keys, Table::Users, Table::Teams]
            .into_iter()
            .find(|t| t.name() == name)
    }

    fn id_column(self) -> &'static str {
        match self {
            Table::Keys => "token_hash",
            Table::Users => "user_id",
            Table::Teams => "team_id",
        }
    }
}

/// One stored entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub id: String,
    pub data: serde_json::Value,
    /// Spend in the current budget window, nano-dollars.
    pub spend_nanos: i64,
    /// Start of the current budget window, Unix ms (0: no window).
    pub window_start: i64,
    pub created_at: i64,
}

/// One request's spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendLog {
    pub request_id: String,
    pub token_hash: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub model_group: String,
    pub model: String,
    pub deployment: String,
    pub provider: String,
    pub spend_nanos: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub status: String,
    /// Unix ms.
    pub start_time: i64,
    pub end_time: i64,
}

/// Which spend logs to read.
#[derive(Debug, Clone, Default)]
pub struct SpendFilter {
    pub token_hash: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub request_id: Option<String>,
    /// Unix ms, inclusive.
    pub start: Option<i64>,
    /// Unix ms, exclusive.
    pub end: Option<i64>,
    pub limit: Option<i64>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same SQL on whichever backend is open (both take `$1`-style parameters).
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            Backend::Sqlite($pool) => $body,
            Backend::Postgres($pool) => $body,
        }
    };
}

/// The database.
#[derive(Debug, Clone)]
pub struct Store {
    backend: Backend,
}

/// How [`Store::record_spend`] writes a batch.
#[derive(Debug, Clone, Copy)]
enum SpendWrite {
    /// Plain INSERTs, given up when a row turns out to exist already.
    AllNew,
    /// INSERTs that return the ids they stored.
    Returning,
}

/// Columns of a spend log row, in the order `write_spend` binds them.
const SPEND_COLUMNS: usize = 14;

/// The INSERT of `rows` spend logs. SQLite gets anonymous `?` placeholders: its numbered `$N`
/// are resolved by a linear scan per bound value (quadratic in a multi-row statement; 4 % of the
/// gateway's instructions per request in a callgrind profile). PostgreSQL gets `$N`. Written
/// directly rather than through `QueryBuilder`, which formats every placeholder through
/// `core::fmt` (another 2 %).
fn insert_spend_sql(rows: usize, sqlite: bool, mode: SpendWrite) -> String {
    const HEAD: &str = "INSERT INTO spend_logs (request_id, token_hash, user_id, team_id, \
                        model_group, model, deployment, provider, spend_nanos, prompt_tokens, \
                        completion_tokens, status, start_time, end_time) VALUES ";
    const SQLITE_ROW: &str = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    let mut sql = String::with_capacity(HEAD.len() + rows * (SQLITE_ROW.len() * 3 + 1) + 64);
    sql.push_str(HEAD);
    let mut number = itoa::Buffer::new();
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        if sqlite {
            sql.push_str(SQLITE_ROW);
            continue;
        }
        for column in 0..SPEND_COLUMNS {
            sql.push_str(if column == 0 { "($" } else { ",$" });
            sql.push_str(number.format(row * SPEND_COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
    if let SpendWrite::Returning = mode {
        sql.push_str(" RETURNING request_id");
    }
    sql
}

/// A database URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl Store {
    /// Opens `postgres://…`/`postgresql://…`, or a SQLite file (`sqlite://path`, `sqlite:path`
    /// or a plain path), creating the file if needed.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .map_err(|e| {
                    StoreError::Open(format!("{}: {}", redact_url(url), e).replace(url, "<url>"))
                })?;
            Backend::Postgres(pool)
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(url);
            let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
                .map_err(|e| StoreError::Open(format!("{path}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // With WAL, NORMAL survives a process crash and syncs at checkpoints, not on
                // every spend batch.
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options)
                .await
                .map_err(|e| StoreError::Open(format!("{path}: {e}")))?;
            Backend::Sqlite(pool)
        };
        Ok(Store { backend })
    }

    /// `sqlite` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Brings the schema up to date (embedded migrations).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlx::migrate!("./migrations/sqlite").run(pool).await,
            Backend::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        }
        .map_err(|e| StoreError::Database(format!("migration failed: {e}")))
    }

    /// Every row of a table.
    pub async fn load(&self, table: Table) -> Result<Vec<Row>, StoreError> {
        let sql = format!(
            "SELECT {}, data, spend_nanos, window_start, created_at FROM {} ORDER BY created_at",
            table.id_column(),
            table.name()
        );
        let rows: Vec<(String, String, i64, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await.map_err(db_error)?
        });
        rows.into_iter()
            .map(|(id, data, spend_nanos, window_start, created_at)| {
                Ok(Row {
                    id,
                    data: serde_json::from_str(&data)
                        .map_err(|e| StoreError::Database(format!("corrupt row: {e}")))?,
                    spend_nanos,
                    window_start,
                    created_at,
                })
            })
            .collect()
    }

    /// One row of a table, if it exists (another replica may have written it).
    pub async fn load_one(&self, table: Table, id: &str) -> Result<Option<Row>, StoreError> {
        let sql = format!(
            "SELECT {c}, data, spend_nanos, window_start, created_at FROM {} WHERE {c} = $1",
            table.name(),
            c = table.id_column(),
        );
        let row: Option<(String, String, i64, i64, i64)> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await.map_err(db_error)?
        });
        row.map(|(id, data, spend_nanos, window_start, created_at)| {
            Ok(Row {
                id,
                data: serde_json::from_str(&data)
                    .map_err(|e| StoreError::Database(format!("corrupt row: {e}")))?,
                spend_nanos,
                window_start,
                created_at,
            })
        })
        .transpose()
    }

    /// Inserts or replaces a key. A `key_alias` used by another key is a conflict.
    pub async fn put_key(
        &self,
        token_hash: &str,
        key_alias: Option<&str>,
        user_id: Option<&str>,
        team_id: Option<&str>,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let data = data.to_string();
        let sql = "INSERT INTO keys (token_hash, key_alias, user_id, team_id, data, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6) \
                   ON CONFLICT (token_hash) DO UPDATE SET key_alias = $2, user_id = $3, \
                   team_id = $4, data = $5, updated_at = $6";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(token_hash)
                .bind(key_alias)
                .bind(user_id)
                .bind(team_id)
                .bind(&data)
                .bind(now_ms)
                .execute(pool)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Inserts or replaces a user or a team.
    pub async fn put(
        &self,
        table: Table,
        id: &str,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let data = data.to_string();
        let sql = format!(
            "INSERT INTO {t} ({c}, data, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT ({c}) DO UPDATE SET data = $2, updated_at = $3",
            t = table.name(),
            c = table.id_column()
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(id)
                .bind(&data)
                .bind(now_ms)
                .execute(pool)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Stores a Responses API object (`data`: JSON) for `owner` (a key hash, or `master`).
    pub async fn put_response(
        &self,
        response_id: &str,
        owner: &str,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let data = data.to_string();
        let sql = "INSERT INTO responses (response_id, owner, data, created_at) \
                   VALUES ($1, $2, $3, $4) ON CONFLICT (response_id) DO UPDATE SET data = $3";
        on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(response_id)
                .bind(owner)
                .bind(&data)
                .bind(now_ms)
                .execute(pool)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// A stored Responses API object of `owner`; `None` when there is none (or it is someone
    /// else's: the two are not told apart).
    pub async fn response(
        &self,
        response_id: &str,
        owner: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let sql = "SELECT data FROM responses WHERE response_id = $1 AND owner = $2";
        let row: Option<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(sql)
                .bind(response_id)
                .bind(owner)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?
        });
        row.map(|(data,)| {
            serde_json::from_str(&data)
                .map_err(|e| StoreError::Database(format!("corrupt response row: {e}")))
        })
        .transpose()
    }

    /// Deletes a stored Responses API object of `owner`; whether it existed.
    pub async fn delete_response(
        &self,
        response_id: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let sql = "DELETE FROM responses WHERE response_id = $1 AND owner = $2";
        let done = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(response_id)
                .bind(owner)
                .execute(pool)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        Ok(done > 0)
    }

    /// Deletes rows; returns how many existed.
    pub async fn delete(&self, table: Table, ids: &[String]) -> Result<u64, StoreError> {
        let sql = format!(
            "DELETE FROM {} WHERE {} = $1",
            table.name(),
            table.id_column()
        );
        let mut n = 0;
        for id in ids {
            n += on_pool!(self, pool => {
                sqlx::query(&sql)
                    .bind(id)
                    .execute(pool)
                    .await
                    .map_err(db_error)?
                    .rows_affected()
            });
        }
        Ok(n)
    }

    /// Gives a key a new hash (`/key/regenerate`), keeping its spend and settings.
    pub async fn rehash_key(
        &self,
        old_hash: &str,
        new_hash: &str,
        data: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let data = data.to_string();
        let sql =
            "UPDATE keys SET token_hash = $1, data = $2, updated_at = $3 WHERE token_hash = $4";
        let n = on_pool!(self, pool => {
            sqlx::query(sql)
                .bind(new_hash)
                .bind(&data)
                .bind(now_ms)
                .bind(old_hash)
                .execute(pool)
                .await
                .map_err(db_error)?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// Starts a new budget window: spend back to 0 from `window_start` (Unix ms).
    pub async fn reset_window(
        &self,
        table: Table,
        id: &str,
        window_start: i64,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "UPDATE {} SET spend_nanos = 0, window_start = $1 WHERE {} = $2 AND window_start < $1",
            table.name(),
            table.id_column()
        );
        on_pool!(self, pool => {
            sqlx::query(&sql)
                .bind(window_start)
                .bind(id)
                .execute(pool)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// Writes spend logs and charges their key, user and team, each request id once. Returns
    /// how many logs were new. One transaction; rows go in multi-row statements and the charges
    /// are summed per key, user and team, so a batch costs a handful of statements.
    pub async fn record_spend(&self, logs: &[SpendLog]) -> Result<usize, StoreError> {
        // Request ids are unique per request, so a batch is nearly always all new: write it
        // without `RETURNING` (no result rows to build and decode), and only when a statement
        // inserted fewer rows than it carried roll back and write again, learning which were new.
        match self.write_spend(logs, SpendWrite::AllNew).await? {
            Some(new) => Ok(new),
            None => Ok(self
                .write_spend(logs, SpendWrite::Returning)
                .await?
                .unwrap_or_default()),
        }
    }

    /// One attempt of [`Store::record_spend`]. `AllNew` answers `None` (having written nothing)
    /// when some log was already stored or repeated in the batch; `Returning` always answers.
    async fn write_spend(
        &self,
        logs: &[SpendLog],
        mode: SpendWrite,
    ) -> Result<Option<usize>, StoreError> {
        /// Rows per INSERT at most. Preparing a statement of 64 rows costs SQLite about half a
        /// million instructions (callgrind), so a batch goes in chunks of power-of-two sizes
        /// (37 rows = 32 + 4 + 1): seven statement texts in all, which every connection's
        /// prepared statement cache keeps after its first few batches.
        const ROWS: usize = 64;
        let mut inserted: Vec<String> = Vec::new();
        let sqlite = matches!(self.backend, Backend::Sqlite(_));
        on_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(db_error)?;
            let mut rest = logs;
            while !rest.is_empty() {
                let rows = if rest.len() >= ROWS {
                    ROWS
                } else {
                    1 << rest.len().ilog2()
                };
                let (chunk, tail) = rest.split_at(rows);
                rest = tail;
                let sql = insert_spend_sql(chunk.len(), sqlite, mode);
                let mut q = sqlx::query(&sql);
                // Text is bound borrowed.
                for log in chunk {
                    q = q
                        .bind(log.request_id.as_str())
                        .bind(log.token_hash.as_deref())
                        .bind(log.user_id.as_deref())
                        .bind(log.team_id.as_deref())
                        .bind(log.model_group.as_str())
                        .bind(log.model.as_str())
                        .bind(log.deployment.as_str())
                        .bind(log.provider.as_str())
                        .bind(log.spend_nanos)
                        .bind(log.prompt_tokens)
                        .bind(log.completion_tokens)
                        .bind(log.status.as_str())
                        .bind(log.start_time)
                        .bind(log.end_time);
                }
                match mode {
                    SpendWrite::AllNew => {
                        let done = q.execute(&mut *tx).await.map_err(db_error)?.rows_affected();
                        if done != chunk.len() as u64 {
                            tx.rollback().await.map_err(db_error)?;
                            return Ok(None);
                        }
                    }
                    SpendWrite::Returning => {
                        let rows = q.fetch_all(&mut *tx).await.map_err(db_error)?;
                        for row in rows {
                            inserted.push(row.try_get(0).map_err(db_error)?);
                        }
                    }
                }
            }
            let new: Vec<&SpendLog> = match mode {
                SpendWrite::AllNew => logs.iter().collect(),
                SpendWrite::Returning => {
                    let mut new: std::collections::HashSet<&str> =
                        inserted.iter().map(String::as_str).collect();
                    // `remove`: a request id repeated within the batch is charged once.
                    logs.iter()
                        .filter(|l| new.remove(l.request_id.as_str()))
                        .collect()
                }
            };
            // Charges of the new logs, per (table, id) and start time: a late log of an earlier
            // window does not count in a later one (`window_start <= start_time`).
            let mut charges: std::collections::BTreeMap<(Table, &str), Vec<(i64, i64)>> =
                std::collections::BTreeMap::new();
            for log in &new {
                for (table, id) in [
                    (Table::Keys, &log.token_hash),
                    (Table::Users, &log.user_id),
                    (Table::Teams, &log.team_id),
                ] {
                    if let Some(id) = id {
                        charges
                            .entry((table, id.as_str()))
                            .or_default()
                            .push((log.start_time, log.spend_nanos));
                    }
                }
            }
            for ((table, id), mut times) in charges {
                let sql = format!(
                    "UPDATE {} SET spend_nanos = spend_nanos + $1 WHERE {} = $2 \
                     AND window_start <= $3",
                    table.name(),
                    table.id_column()
                );
                // Usually the window began before every log of the batch: one statement adds
                // them all (a busy key's 500-log batch spans dozens of start milliseconds, each
                // a statement before).
                let earliest = times.iter().map(|&(at, _)| at).min().unwrap_or(0);
                let total: i64 = times.iter().map(|&(_, nanos)| nanos).sum();
                let charged = sqlx::query(&sql)
                    .bind(total)
                    .bind(id)
                    .bind(earliest)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?
                    .rows_affected();
                if charged > 0 {
                    continue;
                }
                // The window rolled over while some of these logs were queued (or the entity
                // is gone): each start time on its own, so only the current window's count.
                times.sort_unstable();
                for group in times.chunk_by(|a, b| a.0 == b.0) {
                    let nanos: i64 = group.iter().map(|&(_, nanos)| nanos).sum();
                    sqlx::query(&sql)
                        .bind(nanos)
                        .bind(id)
                        .bind(group[0].0)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_error)?;
                }
            }
            tx.commit().await.map_err(db_error)?;
            Ok(Some(new.len()))
        })
    }

    /// Spend logs matching `filter`, newest first.
    pub async fn spend_logs(&self, filter: &SpendFilter) -> Result<Vec<SpendLog>, StoreError> {
        let mut sql = String::from(
            "SELECT request_id, token_hash, user_id, team_id, model_group, model, deployment, \
             provider, spend_nanos, prompt_tokens, completion_tokens, status, start_time, end_time \
             FROM spend_logs WHERE 1 = 1",
        );
        let mut texts: Vec<&str> = Vec::new();
        for (column, value) in [
            ("token_hash", &filter.token_hash),
            ("user_id", &filter.user_id),
            ("team_id", &filter.team_id),
            ("request_id", &filter.request_id),
        ] {
            if let Some(v) = value {
                texts.push(v);
                sql.push_str(&format!(" AND {column} = ${}", texts.len()));
            }
        }
        let mut numbers: Vec<i64> = Vec::new();
        if let Some(start) = filter.start {
            numbers.push(start);
            sql.push_str(&format!(
                " AND start_time >= ${}",
                texts.len() + numbers.len()
            ));
        }
        if let Some(end) = filter.end {
            numbers.push(end);
            sql.push_str(&format!(
                " AND start_time < ${}",
                texts.len() + numbers.len()
            ));
        }
        sql.push_str(" ORDER BY start_time DESC");
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {}", limit.max(0)));
        }
        type Tuple = (
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
            String,
            String,
            String,
            i64,
            i64,
            i64,
            String,
            i64,
            i64,
        );
        let rows: Vec<Tuple> = on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, Tuple>(&sql);
            for t in &texts {
                q = q.bind(*t);
            }
            for n in &numbers {
                q = q.bind(*n);
            }
            q.fetch_all(pool).await.map_err(db_error)?
        });
        Ok(rows
            .into_iter()
            .map(|r| SpendLog {
                request_id: r.0,
                token_hash: r.1,
                user_id: r.2,
                team_id: r.3,
                model_group: r.4,
                model: r.5,
                deployment: r.6,
                provider: r.7,
                spend_nanos: r.8,
                prompt_tokens: r.9,
                completion_tokens: r.10,
                status: r.11,
                start_time: r.12,
                end_time: r.13,
            })
            .collect())
    }

    /// Closes the pool (after the last spend batch).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

#[cfg(test)]
mod tests;
