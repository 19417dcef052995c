//! Group commit: requests that arrive together share one transaction and
//! one flush. Gateways post one receipt or one reply per HTTP request,
//! many at once; written one by one they would queue on the single SQLite
//! writer a flushed commit each. A writer task takes whatever has arrived
//! (up to `MAX_BATCH`), writes it in one transaction, and answers every
//! request only after that transaction's commit: a request is acknowledged
//! only once what it carried is on disk. When a group's commit fails, each
//! of its items is written again on its own, so that one item the database
//! refuses (a text PostgreSQL cannot store) fails only its own request;
//! a request is answered with an error only when its own write failed
//! (nothing acknowledged and lost).

use std::future::Future;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 512;

struct Job<T, R> {
    item: T,
    done: oneshot::Sender<Result<R, String>>,
}

/// Handle to a group-commit writer task of items `T`, each answered with
/// an `R`.
pub struct GroupCommit<T, R> {
    tx: mpsc::Sender<Job<T, R>>,
    /// What the writer stores, for the error when it has stopped.
    what: &'static str,
}

impl<T, R> Clone for GroupCommit<T, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            what: self.what,
        }
    }
}

impl<T: Clone + Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the writer task; it ends when every handle is dropped.
    /// `write` stores a batch in one transaction and gives each item's
    /// answer, in order.
    pub fn start<F, Fut>(what: &'static str, write: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<R>, String>> + Send,
    {
        let (tx, mut rx) = mpsc::channel::<Job<T, R>>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let (items, answers): (Vec<T>, Vec<_>) =
                    jobs.into_iter().map(|j| (j.item, j.done)).unzip();
                let n = items.len();
                let retry = (n > 1).then(|| items.clone());
                match (write(items).await, retry) {
                    (Ok(out), _) if out.len() == n => {
                        for (done, r) in answers.into_iter().zip(out) {
                            let _ = done.send(Ok(r));
                        }
                    }
                    (Ok(out), _) => {
                        let e = format!("{what}: {n} written, {} answered", out.len());
                        tracing::error!(error = %e, "group commit lost its count");
                        for done in answers {
                            let _ = done.send(Err(e.clone()));
                        }
                    }
                    (Err(e), Some(items)) => {
                        tracing::warn!(error = %e, items = n, "{what}s not stored together: each on its own");
                        for (item, done) in items.into_iter().zip(answers) {
                            let r = write(vec![item]).await.and_then(|mut out| {
                                out.pop()
                                    .ok_or_else(|| format!("{what}: written, not answered"))
                            });
                            if let Err(e) = &r {
                                tracing::error!(error = %e, "{what} not stored");
                            }
                            let _ = done.send(r);
                        }
                    }
                    (Err(e), None) => {
                        tracing::error!(error = %e, "{what} not stored");
                        for done in answers {
                            let _ = done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { tx, what }
    }

    /// Stores one item with whatever else arrives with it, and answers
    /// once the commit that holds it is done.
    pub async fn submit(&self, item: T) -> Result<R, super::AppError> {
        let (done, wait) = oneshot::channel();
        let gone = || super::AppError::Config(format!("the {} writer has stopped", self.what));
        self.tx.send(Job { item, done }).await.map_err(|_| gone())?;
        wait.await
            .map_err(|_| gone())?
            .map_err(super::AppError::Config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Requests sent together share one write, and each hears its own
    /// answer; when a group's write fails, each item is written on its
    /// own, so only the item the write refuses fails, and it never
    /// answers success.
    #[tokio::test]
    async fn requests_that_arrive_together_share_one_write_and_only_a_refused_one_fails() {
        let writes = Arc::new(AtomicUsize::new(0));
        let counted = writes.clone();
        let g = GroupCommit::start("number", move |items: Vec<i64>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if items.contains(&13) {
                    Err("refused".to_string())
                } else {
                    Ok(items.iter().map(|i| i * 2).collect())
                }
            }
        });
        let doubled: Vec<i64> = answers(&g, 101..=200)
            .await
            .into_iter()
            .map(|a| a.unwrap_or(-1))
            .collect();
        assert_eq!(doubled, (101..=200).map(|i| i * 2).collect::<Vec<_>>());
        assert!(
            writes.load(Ordering::SeqCst) < 100,
            "100 requests at once took {} writes",
            writes.load(Ordering::SeqCst)
        );
        assert_eq!(answers(&g, [12, 13, 14]).await, [Some(24), None, Some(28)]);
    }

    /// Submits each item from a task of its own, all at once; their
    /// answers in order.
    async fn answers(
        g: &GroupCommit<i64, i64>,
        items: impl IntoIterator<Item = i64>,
    ) -> Vec<Option<i64>> {
        let tasks: Vec<_> = items
            .into_iter()
            .map(|i| {
                let g = g.clone();
                tokio::spawn(async move { g.submit(i).await.ok() })
            })
            .collect();
        let mut out = vec![];
        for t in tasks {
            out.push(t.await.expect("task"));
        }
        out
    }
}
