//! An access token shared by every send of one gateway (WeChat, WeCom).
//!
//! One refresher: the cache is a lock held across the fetch, so when many
//! sends find the token missing or about to expire, the first fetches and
//! the rest wait and use what it got. A token is renewed five minutes
//! before it expires (by the injected clock), and when the provider says a
//! token is invalid the sender drops that token, once, so the next `get`
//! fetches a new one.
//!
//! Several processes on one database share one token through a
//! [`TokenShelf`]: before fetching, a process takes the token another put
//! on the shelf (unless it is the one just refused), and after fetching it
//! puts its own there. WeChat's stable token and WeCom's token stay the
//! same while valid, but a forced refresh invalidates the old one: without
//! the shelf, one process's refresh would make every other process's
//! token fail once.

use crate::clock::Clock;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::Mutex;

/// Where processes sharing a database keep a gateway's token. A shelf
/// that cannot be read or written only costs a fetch: it never stops a send.
#[async_trait]
pub trait TokenShelf: Send + Sync {
    /// The token kept under `key`, and until when it may be used.
    async fn take(&self, key: &str) -> Option<(String, DateTime<Utc>)>;
    async fn put(&self, key: &str, token: &str, until: DateTime<Utc>);
}

/// Renewed this long before it expires.
const MARGIN_SECONDS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub token: String,
    pub expires_in: i64,
}

#[derive(Default)]
struct State {
    token: Option<(String, DateTime<Utc>)>,
    /// The last token was refused: ask for a new one, not the cached one
    /// (WeChat's stable_token returns the same token unless forced).
    force: bool,
    /// The token last refused: never taken from the shelf again.
    refused: Option<String>,
}

pub struct TokenCache {
    clock: Clock,
    state: Mutex<State>,
    fetches: AtomicU64,
    shelf: OnceLock<(Arc<dyn TokenShelf>, String)>,
}

impl TokenCache {
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            state: Mutex::new(State::default()),
            fetches: AtomicU64::new(0),
            shelf: OnceLock::new(),
        }
    }

    /// Shares the token through `shelf` under `key` (set once, at start).
    pub fn share(&self, shelf: Arc<dyn TokenShelf>, key: String) {
        let _ = self.shelf.set((shelf, key));
    }

    /// How many times a token was fetched (for tests and logs).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// A valid token, fetched with `fetch(force)` when there is none.
    pub async fn get<F, Fut, E>(&self, fetch: F) -> Result<String, E>
    where
        F: FnOnce(bool) -> Fut,
        Fut: Future<Output = Result<Fetched, E>>,
    {
        let mut s = self.state.lock().await;
        let now = self.clock.now();
        if let Some((t, until)) = &s.token {
            if *until > now {
                return Ok(t.clone());
            }
        }
        if let Some((shelf, key)) = self.shelf.get() {
            if let Some((t, until)) = shelf.take(key).await {
                if until > now && s.refused.as_deref() != Some(t.as_str()) {
                    // Another process fetched it: no fetch, no refresh.
                    s.token = Some((t.clone(), until));
                    s.force = false;
                    return Ok(t);
                }
            }
        }
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let f = fetch(s.force).await?;
        let life = (f.expires_in - MARGIN_SECONDS).max(f.expires_in / 2).max(1);
        let until = now + Duration::seconds(life);
        s.token = Some((f.token.clone(), until));
        s.force = false;
        if let Some((shelf, key)) = self.shelf.get() {
            shelf.put(key, &f.token, until).await;
        }
        Ok(f.token)
    }

    /// The provider refused `token`: the next `get` fetches a new one,
    /// unless another send already did.
    pub async fn invalidate(&self, token: &str) {
        let mut s = self.state.lock().await;
        if s.token.as_ref().is_some_and(|(t, _)| t == token) {
            s.token = None;
            s.force = true;
            s.refused = Some(token.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn fetched(n: u64) -> Result<Fetched, ()> {
        Ok(Fetched {
            token: format!("t{n}"),
            expires_in: 7200,
        })
    }

    #[tokio::test]
    async fn concurrent_gets_fetch_once_and_expiry_refetches() {
        let clock = Clock::manual("2026-03-01T00:00:00Z".parse().unwrap());
        let cache = Arc::new(TokenCache::new(clock.clone()));
        let calls = Arc::new(AtomicU64::new(0));
        let mut tasks = vec![];
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|_| async move {
                        tokio::task::yield_now().await;
                        fetched(calls.fetch_add(1, Ordering::SeqCst))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "t0");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(7200 - MARGIN_SECONDS - 1));
        assert_eq!(cache.get(|_| async { fetched(9) }).await.unwrap(), "t0");
        clock.advance(Duration::seconds(2));
        assert_eq!(cache.get(|_| async { fetched(1) }).await.unwrap(), "t1");
        // Invalidating an old token does not drop the new one.
        cache.invalidate("t0").await;
        assert_eq!(cache.get(|_| async { fetched(9) }).await.unwrap(), "t1");
        cache.invalidate("t1").await;
        let forced = cache
            .get(|force| async move {
                assert!(force, "a refused token forces a new one");
                fetched(2)
            })
            .await
            .unwrap();
        assert_eq!(forced, "t2");
        assert_eq!(cache.fetches(), 3);
    }
}
