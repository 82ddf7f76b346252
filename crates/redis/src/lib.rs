//! `latch-redis`: the flow store ([`SignInStore`] and [`SignUpStore`]) on
//! Redis, so that every replica serves every step of a sign-in or a sign-up.
//!
//! Each sign-in is a hash `<prefix>sign_in:<id>` with its version (`v`) and
//! JSON document (`d`), and a member of the sorted set
//! `<prefix>sign_ins_by_abandon_at` scored by its `abandon_at` for purging;
//! each sign-up likewise under `<prefix>sign_up:<id>` and
//! `<prefix>sign_ups_by_abandon_at`, so the two kinds never meet, whatever
//! their ids. Both are kept by the same code, written once over the kind of
//! flow. Every write is one Lua script, so the compare-and-set of `replace`
//! is atomic across replicas. Keys expire a retention period after the flow
//! is abandoned (or after being written, for flows whose time is already
//! over), so nothing outlives its use even without purging. The prefix lets
//! several instances share one Redis.
//!
//! It also keeps the rate-limit [`Counters`]: each is a key
//! `<prefix>counter:<name>` raised by one script that increments it and, on
//! the window's first hit, sets its expiry to the window, so a count and its
//! window are one atomic step on Redis's clock, whichever replica asks.
//!
//! Invariants: depends on `latch-core` only among Latch crates; every command
//! is bounded by the configured timeout, and a Redis that cannot be reached
//! is `StoreError::Unavailable`.

#![forbid(unsafe_code)]

use std::time::Duration;

use async_trait::async_trait;
use latch_core::error::StoreError;
use latch_core::model::{Duration as Span, SignIn, SignInId, SignUp, SignUpId, Timestamp};
use latch_core::ports::{Counters, SignInStore, SignUpStore, WindowCount};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// How long a flow is kept after it is abandoned (or after a write, when
/// its time is already over), so its outcome can still be read.
const RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

const INSERT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[5])
return 1
";

const REPLACE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
return 1
";

const DELETE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
";

/// Deletes the flows abandoned before ARGV[2] (their keys are ARGV[1]
/// followed by the id); returns how many still existed.
const PURGE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', ARGV[1] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return n
";

/// Adds a hit to KEYS[1]; a key without expiry (its window's first hit)
/// gets ARGV[1] ms. Returns the count and the window's remaining ms.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
";

/// Where the flow store lives.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://host:port/db` (plain TCP; TLS is not built in).
    pub url: String,
    /// Put before every key, e.g. `latch:` or `latch:staging:`.
    pub key_prefix: String,
    /// The bound on connecting and on each command.
    pub timeout: Duration,
}

/// The flow store. Cheap to clone: clones share one reconnecting connection.
#[derive(Clone)]
pub struct RedisSignInStore {
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    insert: Script,
    replace: Script,
    delete: Script,
    purge: Script,
    hit: Script,
}

impl std::fmt::Debug for RedisSignInStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSignInStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSignInStore {
    /// Connects; the connection is re-established by itself after a failure.
    pub async fn connect(config: &RedisConfig) -> Result<Self, StoreError> {
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| StoreError::Other(format!("redis URL: {e}")))?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(config.timeout)
            .set_response_timeout(config.timeout)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(
            config.timeout,
            ConnectionManager::new_with_config(client, manager),
        )
        .await
        .map_err(|_| StoreError::Unavailable("redis: connecting timed out".into()))?
        .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: config.key_prefix.clone(),
            timeout: config.timeout,
            insert: Script::new(INSERT),
            replace: Script::new(REPLACE),
            delete: Script::new(DELETE),
            purge: Script::new(PURGE),
            hit: Script::new(HIT),
        })
    }

    /// Runs a command within the timeout, timed under `port`.
    async fn bounded<T>(
        &self,
        port: &'static str,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| StoreError::Unavailable("redis: command timed out".into()))
            .and_then(|answer| answer.map_err(unavailable));
        let seconds = started.elapsed().as_secs_f64();
        latch_core::metrics::store_call("redis", port, seconds, result.as_ref().err());
        result
    }
}

/// `/readyz` for Redis: it answers a `PING`.
#[async_trait]
impl latch_core::ports::Readiness for RedisSignInStore {
    fn part(&self) -> &'static str {
        "redis"
    }

    async fn ready(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let pong: String = self
            .bounded("ping", redis::cmd("PING").query_async(&mut conn))
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::Other(format!(
                "redis answered {pong:?} to PING"
            )))
        }
    }
}

/// Milliseconds the key of a flow abandoned at `abandon_at` lives from now:
/// until then, plus the retention period.
fn ttl_millis(abandon_at: Timestamp, now: Timestamp) -> i64 {
    let retention = i64::try_from(RETENTION.as_millis()).unwrap_or(i64::MAX);
    abandon_at
        .0
        .saturating_sub(now.0)
        .max(0)
        .saturating_add(retention)
}

/// Redis expires keys on its own real clock, so their lifetimes are reckoned
/// from the wall clock too.
fn wall_clock() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    Timestamp(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn document<F: Flow>(flow: &F) -> Result<String, StoreError> {
    serde_json::to_string(flow)
        .map_err(|e| StoreError::Other(format!("cannot serialise {}: {e}", F::NAME)))
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {err}"))
}

/// A kind of flow the store keeps, each under keys of its own.
trait Flow: Serialize + DeserializeOwned + Send + Sync {
    /// What errors call it: `sign-in`.
    const NAME: &'static str;
    /// Each flow's hash is `<prefix><KEY>:<id>`.
    const KEY: &'static str;
    /// The sorted set of the kind's ids by `abandon_at`, after the prefix.
    const INDEX: &'static str;

    fn id(&self) -> &str;
    fn abandon_at(&self) -> Timestamp;
    fn version(&self) -> u64;
}

impl RedisSignInStore {
    fn key<F: Flow>(&self, id: &str) -> String {
        format!("{}{}:{id}", self.prefix, F::KEY)
    }

    fn index<F: Flow>(&self) -> String {
        format!("{}{}", self.prefix, F::INDEX)
    }

    async fn insert_flow<F: Flow>(&self, flow: &F) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut call = self.insert.prepare_invoke();
        call.key(self.key::<F>(flow.id()))
            .key(self.index::<F>())
            .arg(flow.version())
            .arg(document(flow)?)
            .arg(flow.abandon_at().0)
            .arg(ttl_millis(flow.abandon_at(), wall_clock()))
            .arg(flow.id());
        let stored: i64 = self.bounded(F::KEY, call.invoke_async(&mut conn)).await?;
        if stored == 1 {
            Ok(())
        } else {
            // Ids are random: a clash is a bug, not a race to win.
            Err(StoreError::Other(format!(
                "{} {} exists",
                F::NAME,
                flow.id()
            )))
        }
    }

    async fn replace_flow<F: Flow>(
        &self,
        flow: &F,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut call = self.replace.prepare_invoke();
        call.key(self.key::<F>(flow.id()))
            .key(self.index::<F>())
            .arg(expected_version)
            .arg(flow.version())
            .arg(document(flow)?)
            .arg(flow.abandon_at().0)
            .arg(ttl_millis(flow.abandon_at(), wall_clock()))
            .arg(flow.id());
        match self
            .bounded(F::KEY, call.invoke_async::<i64>(&mut conn))
            .await?
        {
            1 => Ok(()),
            0 => Err(StoreError::Conflict),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn get_flow<F: Flow>(&self, id: &str) -> Result<Option<F>, StoreError> {
        let mut conn = self.conn.clone();
        let data: Option<String> = self
            .bounded(F::KEY, conn.hget(self.key::<F>(id), "d"))
            .await?;
        data.map(|d| {
            serde_json::from_str(&d).map_err(|e| {
                StoreError::Other(format!("stored {} {id} is unreadable: {e}", F::NAME))
            })
        })
        .transpose()
    }

    async fn delete_flow<F: Flow>(&self, id: &str) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let mut call = self.delete.prepare_invoke();
        call.key(self.key::<F>(id)).key(self.index::<F>()).arg(id);
        let _: i64 = self.bounded(F::KEY, call.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn purge_flows<F: Flow>(&self, now: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let mut call = self.purge.prepare_invoke();
        call.key(self.index::<F>())
            .arg(self.key::<F>(""))
            .arg(now.0);
        let purged: i64 = self.bounded(F::KEY, call.invoke_async(&mut conn)).await?;
        Ok(u64::try_from(purged).unwrap_or_default())
    }
}

/// Makes `$flow` a [`Flow`] under the keys `$key` and `$index`, and
/// implements `$port` for [`RedisSignInStore`] through it.
macro_rules! flow_store {
    ($port:ident, $flow:ty, $id:ty, $name:literal, $key:literal, $index:literal) => {
        impl Flow for $flow {
            const NAME: &'static str = $name;
            const KEY: &'static str = $key;
            const INDEX: &'static str = $index;

            fn id(&self) -> &str {
                self.id.as_str()
            }
            fn abandon_at(&self) -> Timestamp {
                self.abandon_at
            }
            fn version(&self) -> u64 {
                <$flow>::version(self)
            }
        }

        #[async_trait]
        impl $port for RedisSignInStore {
            async fn insert(&self, flow: &$flow) -> Result<(), StoreError> {
                self.insert_flow(flow).await
            }

            async fn replace(&self, flow: &$flow, expected_version: u64) -> Result<(), StoreError> {
                self.replace_flow(flow, expected_version).await
            }

            async fn get(&self, id: &$id) -> Result<Option<$flow>, StoreError> {
                self.get_flow(id.as_str()).await
            }

            async fn delete(&self, id: &$id) -> Result<(), StoreError> {
                self.delete_flow::<$flow>(id.as_str()).await
            }

            async fn purge_abandoned(&self, now: Timestamp) -> Result<u64, StoreError> {
                self.purge_flows::<$flow>(now).await
            }
        }
    };
}

flow_store!(
    SignInStore,
    SignIn,
    SignInId,
    "sign-in",
    "sign_in",
    "sign_ins_by_abandon_at"
);
flow_store!(
    SignUpStore,
    SignUp,
    SignUpId,
    "sign-up",
    "sign_up",
    "sign_ups_by_abandon_at"
);

#[async_trait]
impl Counters for RedisSignInStore {
    async fn hit(
        &self,
        key: &str,
        window: Span,
        _now: Timestamp,
    ) -> Result<WindowCount, StoreError> {
        let mut conn = self.conn.clone();
        let mut call = self.hit.prepare_invoke();
        call.key(format!("{}counter:{key}", self.prefix))
            .arg(window.0.max(1));
        let (count, ttl): (i64, i64) = self
            .bounded("counters", call.invoke_async(&mut conn))
            .await?;
        Ok(WindowCount {
            count: u64::try_from(count).unwrap_or_default(),
            resets_in: Span(ttl.max(0)),
        })
    }

    async fn purge_expired(&self, _now: Timestamp) -> Result<u64, StoreError> {
        // Counters expire by themselves.
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use latch_core::model::{ClientId, InstanceSettings};

    #[test]
    fn keys_live_until_abandoned_and_a_day_more() {
        let now = Timestamp(1_000_000);
        let mut s = SignIn::new(
            SignInId("sia_1".into()),
            ClientId("client_1".into()),
            now,
            &InstanceSettings::default(),
        );
        let day = 24 * 60 * 60 * 1000;
        assert_eq!(
            ttl_millis(s.abandon_at, now),
            day + day,
            "a fresh sign-in lives a day"
        );
        s.abandon_at = Timestamp(now.0 - 5);
        assert_eq!(
            ttl_millis(s.abandon_at, now),
            day,
            "an abandoned one is kept a day"
        );
    }
}
