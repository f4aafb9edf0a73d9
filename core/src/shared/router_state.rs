//! Router state shared by replicas: a cooldown started by one replica is published at once
//! (and kept in a Redis hash every replica reads on its next sync), and every replica publishes
//! its per-deployment load every sync interval and reads the others', so strategies and rpm/tpm
//! limits see the whole fleet.
//!
//! The router's hot path never waits on Redis: reads come from local memory (this replica's
//! counters plus the others' last published ones), writes go to local memory and reach Redis
//! on the next sync.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, RwLock};
use std::time::Duration;

use switchyard_plugin_sdk::ErrorKind;

use super::{every_sync_interval, Shared, REPLICA_TTL_MS};
use crate::router::{kind_code, unix_ms, Cooldown, Load, LocalState, RouterState};

/// Publishes this replica's load, reads the others' and the fleet's cooldowns.
/// KEYS: none (standalone Redis). ARGV: prefix, replica, now_ms, then field/value pairs of this
/// replica's load. Returns [cooldowns..., "", other replicas' fields/values...].
static SYNC: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local p, me, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local mine = p .. 'load:' .. me
redis.call('DEL', mine)
if #ARGV > 4 then
  redis.call('HSET', mine, unpack(ARGV, 5))
  redis.call('PEXPIRE', mine, ttl)
end
redis.call('ZADD', p .. 'replicas', now, me)
redis.call('ZREMRANGEBYSCORE', p .. 'replicas', '-inf', now - ttl)
local out = {}
local cool = redis.call('HGETALL', p .. 'cooldowns')
for i = 1, #cool, 2 do
  local until_ms = tonumber(string.match(cool[i + 1], '^(%d+)'))
  if until_ms and until_ms > now then
    out[#out + 1] = cool[i]; out[#out + 1] = cool[i + 1]
  else
    redis.call('HDEL', p .. 'cooldowns', cool[i])
  end
end
out[#out + 1] = ''
for _, r in ipairs(redis.call('ZRANGEBYSCORE', p .. 'replicas', now - ttl, '+inf')) do
  if r ~= me then
    local h = redis.call('HGETALL', p .. 'load:' .. r)
    for i = 1, #h do out[#out + 1] = h[i] end
  end
end
return out
"#,
    )
});

/// Records a cooldown unless a longer one is already there.
/// ARGV: prefix, deployment, until_ms, reason code.
static COOLDOWN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local key = ARGV[1] .. 'cooldowns'
local old = redis.call('HGET', key, ARGV[2])
local old_until = old and tonumber(string.match(old, '^(%d+)')) or 0
if tonumber(ARGV[3]) > old_until then
  redis.call('HSET', key, ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
end
return 1
"#,
    )
});

/// What the other replicas last published about one deployment.
#[derive(Debug, Default, Clone, Copy)]
struct Remote {
    minute: u64,
    in_flight: u64,
    rpm: u64,
    tpm: u64,
    fails: u32,
    latency_ms: Option<f64>,
    ttft_ms: Option<f64>,
}

/// [`RouterState`] over local memory, synchronised with the other replicas through Redis.
#[derive(Debug)]
pub(crate) struct SharedRouterState {
    local: LocalState,
    remote: RwLock<HashMap<String, Remote>>,
    shared: Arc<Shared>,
}

impl SharedRouterState {
    pub(crate) fn start(shared: Arc<Shared>) -> Arc<SharedRouterState> {
        let state = Arc::new(SharedRouterState {
            local: LocalState::new(),
            remote: RwLock::new(HashMap::new()),
            shared: shared.clone(),
        });
        let weak = Arc::downgrade(&state);
        shared.listen(
            "cooldown",
            Box::new(move |body| {
                if let (Some(state), Some((deployment, cooldown))) =
                    (weak.upgrade(), parse_cooldown(body))
                {
                    state.local.start_cooldown(deployment, cooldown);
                }
            }),
        );
        // After an outage (or a Redis restart) the fleet's cooldowns are re-published.
        let weak = Arc::downgrade(&state);
        shared.on_reconnect(Box::new(move |shared| {
            let weak = weak.clone();
            Box::pin(async move {
                let Some(state) = weak.upgrade() else { return };
                for (id, snap) in state.local.snapshot(unix_ms()) {
                    if let Some(c) = snap.cooldown {
                        push_cooldown(&shared, &id, c).await;
                    }
                }
            })
        }));
        let weak = Arc::downgrade(&state);
        every_sync_interval(&shared, move |shared| {
            let weak = weak.clone();
            async move {
                if let Some(state) = weak.upgrade() {
                    state.sync(&shared).await;
                }
            }
        });
        state
    }
}

/// Records a cooldown in Redis and tells the other replicas at once.
async fn push_cooldown(shared: &Shared, deployment: &str, c: Cooldown) {
    let Some(mut conn) = shared.conn() else {
        return;
    };
    let r: redis::RedisResult<i64> = COOLDOWN
        .arg(&shared.prefix)
        .arg(deployment)
        .arg(c.until_unix_ms)
        .arg(kind_code(c.reason))
        .invoke_async(&mut conn)
        .await;
    match r {
        Ok(_) => {
            let body = format!("{deployment}\t{} {}", c.until_unix_ms, kind_code(c.reason));
            shared.publish("cooldown", &body).await;
        }
        Err(e) => shared.failed("cooldown", &e),
    }
}

impl SharedRouterState {
    async fn sync(&self, shared: &Shared) {
        let Some(mut conn) = shared.conn() else {
            return;
        };
        let now = unix_ms();
        let minute = now / 60_000;
        let mut script = SYNC.prepare_invoke();
        script
            .arg(&shared.prefix)
            .arg(shared.replica())
            .arg(now)
            .arg(REPLICA_TTL_MS);
        for (id, snap) in self.local.snapshot(now) {
            let l = snap.load;
            script.arg(id).arg(format!(
                "{minute} {} {} {} {} {} {}",
                l.in_flight,
                l.rpm,
                l.tpm,
                snap.fails,
                l.latency_ms.unwrap_or(0.0),
                l.ttft_ms.unwrap_or(0.0)
            ));
        }
        let reply: Vec<String> = match script.invoke_async(&mut conn).await {
            Ok(r) => r,
            Err(e) => return shared.failed("sync", &e),
        };
        let mut parts = reply.split(|s| s.is_empty());
        for pair in parts.next().unwrap_or_default().chunks_exact(2) {
            if let Some((_, c)) = parse_cooldown(&format!("{}\t{}", pair[0], pair[1])) {
                self.local.start_cooldown(&pair[0], c);
            }
        }
        let mut remote: HashMap<String, Remote> = HashMap::new();
        let mut samples: HashMap<String, (f64, u32, f64, u32)> = HashMap::new();
        for pair in parts.next().unwrap_or_default().chunks_exact(2) {
            let v: Vec<f64> = pair[1].split(' ').filter_map(|n| n.parse().ok()).collect();
            let [m, in_flight, rpm, tpm, fails, lat, ttft] = v[..] else {
                continue;
            };
            let r = remote.entry(pair[0].clone()).or_default();
            r.minute = minute;
            r.in_flight += in_flight as u64;
            if m as u64 == minute {
                r.rpm += rpm as u64;
                r.tpm += tpm as u64;
                r.fails += fails as u32;
            }
            let s = samples.entry(pair[0].clone()).or_default();
            if lat > 0.0 {
                s.0 += lat;
                s.1 += 1;
            }
            if ttft > 0.0 {
                s.2 += ttft;
                s.3 += 1;
            }
        }
        for (id, (lat, n_lat, ttft, n_ttft)) in samples {
            if let Some(r) = remote.get_mut(&id) {
                r.latency_ms = (n_lat > 0).then(|| lat / f64::from(n_lat));
                r.ttft_ms = (n_ttft > 0).then(|| ttft / f64::from(n_ttft));
            }
        }
        *self.remote.write().unwrap_or_else(|p| p.into_inner()) = remote;
    }

    fn remote(&self, deployment: &str, now_ms: u64) -> Remote {
        self.remote
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
            .copied()
            .filter(|r| r.minute == now_ms / 60_000 || r.in_flight > 0)
            .unwrap_or_default()
    }
}

fn parse_cooldown(body: &str) -> Option<(&str, Cooldown)> {
    let (deployment, rest) = body.split_once('\t')?;
    let (until, reason) = rest.split_once(' ')?;
    let reason = ErrorKind::ALL
        .get(reason.parse::<usize>().ok()?)
        .copied()
        .unwrap_or(ErrorKind::Internal);
    Some((
        deployment,
        Cooldown {
            until_unix_ms: until.parse().ok()?,
            reason,
        },
    ))
}

fn mean(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some((a + b) / 2.0),
        (a, b) => a.or(b),
    }
}

impl RouterState for SharedRouterState {
    fn cooldown(&self, deployment: &str, now_ms: u64) -> Option<Cooldown> {
        self.local.cooldown(deployment, now_ms)
    }

    fn start_cooldown(&self, deployment: &str, cooldown: Cooldown) {
        self.local.start_cooldown(deployment, cooldown);
        if !self.shared.is_up() {
            return;
        }
        let shared = self.shared.clone();
        let deployment = deployment.to_owned();
        // The notice is on its way before the failed request's retry is.
        tokio::spawn(async move { push_cooldown(&shared, &deployment, cooldown).await });
    }

    fn record_failure(&self, deployment: &str, now_ms: u64) -> u32 {
        self.local.record_failure(deployment, now_ms) + self.remote(deployment, now_ms).fails
    }

    fn begin(&self, deployment: &str, now_ms: u64) {
        self.local.begin(deployment, now_ms);
    }

    fn end(&self, deployment: &str) {
        self.local.end(deployment);
    }

    fn record_latency(&self, deployment: &str, latency: Duration, stream: bool) {
        self.local.record_latency(deployment, latency, stream);
    }

    fn add_tokens(&self, deployment: &str, tokens: u64, now_ms: u64) {
        self.local.add_tokens(deployment, tokens, now_ms);
    }

    fn load(&self, deployment: &str, now_ms: u64) -> Load {
        let mine = self.local.load(deployment, now_ms);
        let others = self.remote(deployment, now_ms);
        Load {
            in_flight: mine.in_flight + others.in_flight,
            rpm: mine.rpm + others.rpm,
            tpm: mine.tpm + others.tpm,
            latency_ms: mean(mine.latency_ms, others.latency_ms),
            ttft_ms: mean(mine.ttft_ms, others.ttft_ms),
        }
    }

    fn cooling_down(&self, now_ms: u64) -> usize {
        self.local.cooling_down(now_ms)
    }
}
