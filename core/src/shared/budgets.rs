//! Rate limits and budgets of keys, users and teams, shared by replicas: one script checks every
//! level's requests-per-minute, tokens-per-minute and budget and, only when all pass, counts the
//! request and reserves its worst-case cost, atomically, so replicas cannot together pass a
//! limit that each of them respects.
//!
//! Budget hashes hold the window's settled spend and one reservation field per replica; a
//! replica whose heartbeat stopped loses its reservations (a crash cannot hold money hostage).
//! Settlements that cannot reach Redis are kept, coalesced per budget, and replayed when it
//! answers again.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use super::{Shared, REPLICA_TTL_MS};

/// ARGV: prefix, replica, now_ms, amount, replica ttl, level count, then per level: id, rpm,
/// tpm, max (nano-dollars), window start, seed (settled spend when Redis has none); -1 = none.
/// Returns {-1} when admitted, else {level, kind, value}: kind 1 rpm, 2 tpm, 3 budget (value =
/// spent), 4 the level needs a seed.
static ADMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local p, me, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local amount, ttl, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local minute = math.floor(now / 60000)
local into = (now % 60000) / 60000
local live = {}
for _, r in ipairs(redis.call('ZRANGEBYSCORE', p .. 'replicas', now - ttl, '+inf')) do live[r] = true end
live[me] = true
local function window_count(kind, id, limit)
  local cur = tonumber(redis.call('GET', p .. kind .. ':' .. id .. ':' .. minute) or '0')
  local prev = tonumber(redis.call('GET', p .. kind .. ':' .. id .. ':' .. (minute - 1)) or '0')
  return cur + math.floor(prev * (1 - into))
end
for i = 0, n - 1 do
  local b = 7 + i * 6
  local id, rpm, tpm, max = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  local wstart, seed = tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  if tpm >= 0 and window_count('tpm', id, tpm) >= tpm then return {i, 2, tpm} end
  if rpm >= 0 and window_count('rpm', id, rpm) >= rpm then return {i, 1, rpm} end
  if max >= 0 then
    local h = p .. 'budget:' .. id
    local spent = redis.call('HGET', h, 'spent')
    if not spent then
      if seed < 0 then return {i, 4, 0} end
      spent = seed
    else
      spent = tonumber(spent)
      local w = tonumber(redis.call('HGET', h, 'window') or '-1')
      if wstart >= 0 and wstart > w then spent = 0 end
    end
    local reserved = 0
    local all = redis.call('HGETALL', h)
    for j = 1, #all, 2 do
      local f = all[j]
      if string.sub(f, 1, 2) == 'r:' then
        if live[string.sub(f, 3)] then
          reserved = reserved + tonumber(all[j + 1])
        else
          redis.call('HDEL', h, f)
        end
      end
    end
    if spent + reserved + amount > max or (amount == 0 and spent >= max) then
      return {i, 3, tostring(spent)}
    end
  end
end
for i = 0, n - 1 do
  local b = 7 + i * 6
  local id, rpm, max = ARGV[b], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 3])
  local wstart = tonumber(ARGV[b + 4])
  if rpm >= 0 then
    local k = p .. 'rpm:' .. id .. ':' .. minute
    redis.call('INCR', k)
    redis.call('PEXPIRE', k, 120000)
  end
  if max >= 0 then
    local h = p .. 'budget:' .. id
    if redis.call('HEXISTS', h, 'spent') == 0 then
      redis.call('HSET', h, 'spent', ARGV[b + 5], 'window', ARGV[b + 4])
    elseif wstart >= 0 and wstart > tonumber(redis.call('HGET', h, 'window') or '-1') then
      redis.call('HSET', h, 'spent', 0, 'window', ARGV[b + 4])
    end
    redis.call('HINCRBY', h, 'r:' .. me, ARGV[4])
  end
end
return {-1}
"#,
    )
});

/// ARGV: prefix, replica, now_ms, level count, then per level: id, window start, cost, reserved
/// to give back, tokens. A budget Redis no longer has (restarted empty) is not created here: the
/// next admission seeds it from the database, which has this spend.
static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local p, me, now, n = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local minute = math.floor(now / 60000)
for i = 0, n - 1 do
  local b = 5 + i * 5
  local id, wstart = ARGV[b], tonumber(ARGV[b + 1])
  local cost, give_back, tokens = ARGV[b + 2], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if tokens > 0 then
    local k = p .. 'tpm:' .. id .. ':' .. minute
    redis.call('INCRBY', k, ARGV[b + 4])
    redis.call('PEXPIRE', k, 120000)
  end
  local h = p .. 'budget:' .. id
  if redis.call('HEXISTS', h, 'spent') == 1 then
    if wstart >= 0 and wstart > tonumber(redis.call('HGET', h, 'window') or '-1') then
      redis.call('HSET', h, 'spent', 0, 'window', ARGV[b + 1])
    end
    redis.call('HINCRBY', h, 'spent', cost)
    if give_back > 0 then
      local left = redis.call('HINCRBY', h, 'r:' .. me, -give_back)
      if left <= 0 then redis.call('HDEL', h, 'r:' .. me) end
    end
  end
end
return 1
"#,
    )
});

/// One level (key, user, team, a key's model) of an admission.
#[derive(Debug, Clone)]
pub(crate) struct BudgetLevel {
    /// `key:<hash>`, `user:<id>`, `team:<id>`, `key:<hash>:model:<group>`.
    pub(crate) id: String,
    pub(crate) rpm: Option<u64>,
    pub(crate) tpm: Option<u64>,
    /// Nano-dollars.
    pub(crate) max: Option<i64>,
    /// Start of the budget's current window (Unix ms), when it has one.
    pub(crate) window_start: Option<i64>,
    /// The settled spend to start from if Redis has none for this budget.
    pub(crate) seed: Option<i64>,
}

/// Why the shared state refused an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SharedRefusal {
    Rpm {
        level: usize,
        limit: u64,
    },
    Tpm {
        level: usize,
        limit: u64,
    },
    Budget {
        level: usize,
        spent: i64,
    },
    /// Redis has no spend for this level's budget yet: pass its settled spend as the seed.
    NeedsSeed {
        level: usize,
    },
}

/// A settlement for one level.
#[derive(Debug, Clone)]
pub(crate) struct Settlement {
    pub(crate) id: String,
    pub(crate) window_start: Option<i64>,
    pub(crate) cost: i64,
    /// The reservation this replica made in Redis for it (0 if it was admitted locally).
    pub(crate) give_back: i64,
    pub(crate) tokens: u64,
}

/// Shared rate limits and budgets.
#[derive(Debug)]
pub(crate) struct SharedBudgets {
    shared: Arc<Shared>,
    /// Settlements Redis has not seen yet, coalesced by level and window.
    pending: Mutex<HashMap<(String, Option<i64>), Settlement>>,
}

impl SharedBudgets {
    pub(crate) fn start(shared: Arc<Shared>) -> Arc<SharedBudgets> {
        let budgets = Arc::new(SharedBudgets {
            shared: shared.clone(),
            pending: Mutex::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&budgets);
        shared.on_reconnect(Box::new(move |_| {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(b) = weak.upgrade() {
                    b.replay_pending().await;
                }
            })
        }));
        budgets
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// `None` when Redis is unreachable (the caller decides: local state, or refuse).
    pub(crate) async fn admit(
        &self,
        levels: &[BudgetLevel],
        amount: i64,
        now_ms: i64,
    ) -> Option<Result<(), SharedRefusal>> {
        let mut conn = self.shared.conn()?;
        let mut call = ADMIT.prepare_invoke();
        call.arg(&self.shared.prefix)
            .arg(self.shared.replica())
            .arg(now_ms)
            .arg(amount)
            .arg(REPLICA_TTL_MS)
            .arg(levels.len());
        let or_none = |v: Option<i64>| v.unwrap_or(-1);
        for l in levels {
            call.arg(&l.id)
                .arg(or_none(l.rpm.map(|n| n as i64)))
                .arg(or_none(l.tpm.map(|n| n as i64)))
                .arg(or_none(l.max))
                .arg(or_none(l.window_start))
                .arg(or_none(l.seed));
        }
        let reply: Vec<redis::Value> = match call.invoke_async(&mut conn).await {
            Ok(r) => r,
            Err(e) => {
                self.shared.failed("admit", &e);
                return None;
            }
        };
        let int = |v: Option<&redis::Value>| -> i64 {
            match v {
                Some(redis::Value::Int(n)) => *n,
                Some(redis::Value::BulkString(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| t.parse::<f64>().ok())
                    .map_or(0, |f| f as i64),
                _ => 0,
            }
        };
        let level = int(reply.first());
        if level < 0 {
            return Some(Ok(()));
        }
        let level = level as usize;
        let value = int(reply.get(2));
        Some(Err(match int(reply.get(1)) {
            1 => SharedRefusal::Rpm {
                level,
                limit: value as u64,
            },
            2 => SharedRefusal::Tpm {
                level,
                limit: value as u64,
            },
            4 => SharedRefusal::NeedsSeed { level },
            _ => SharedRefusal::Budget {
                level,
                spent: value,
            },
        }))
    }

    /// Settles (or, with zero cost, releases) an admission; kept for later when Redis is down.
    pub(crate) async fn settle(&self, settlements: Vec<Settlement>, now_ms: i64) {
        if settlements.is_empty() {
            return;
        }
        if !self.try_settle(&settlements, now_ms).await {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for s in settlements {
                let entry = pending
                    .entry((s.id.clone(), s.window_start))
                    .or_insert_with(|| Settlement {
                        cost: 0,
                        give_back: 0,
                        tokens: 0,
                        ..s.clone()
                    });
                entry.cost += s.cost;
                entry.give_back += s.give_back;
                // Tokens of past minutes no longer count against a limit.
                entry.tokens = 0;
            }
        }
    }

    async fn try_settle(&self, settlements: &[Settlement], now_ms: i64) -> bool {
        let Some(mut conn) = self.shared.conn() else {
            return false;
        };
        let mut call = SETTLE.prepare_invoke();
        call.arg(&self.shared.prefix)
            .arg(self.shared.replica())
            .arg(now_ms)
            .arg(settlements.len());
        for s in settlements {
            call.arg(&s.id)
                .arg(s.window_start.unwrap_or(-1))
                .arg(s.cost)
                .arg(s.give_back)
                .arg(s.tokens);
        }
        match call.invoke_async::<i64>(&mut conn).await {
            Ok(_) => true,
            Err(e) => {
                self.shared.failed("settle", &e);
                false
            }
        }
    }

    async fn replay_pending(&self) {
        let pending: Vec<Settlement> = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        if pending.is_empty() {
            return;
        }
        let count = pending.len();
        let now = crate::router::unix_ms() as i64;
        if self.try_settle(&pending, now).await {
            tracing::info!(
                budgets = count,
                "shared state: spend settled during the outage replayed"
            );
        } else {
            let mut map = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            for s in pending {
                map.insert((s.id.clone(), s.window_start), s);
            }
        }
    }
}
