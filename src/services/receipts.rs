//! Group commit for delivery receipts. Gateways post one receipt per HTTP
//! request, many at once; written one by one they would queue on the single
//! SQLite writer a transaction each. The writer task takes whatever has
//! arrived (up to `MAX_BATCH`), applies it in one transaction, and answers
//! every request: a request is acknowledged only once its receipt is stored.

use crate::gateway::StatusReport;
use crate::store::Store;
use tokio::sync::{mpsc, oneshot};

const MAX_BATCH: usize = 512;

struct Job {
    /// (gateway, envelope id): applied only the first time it is seen.
    event: Option<(String, String)>,
    report: StatusReport,
    done: oneshot::Sender<Result<bool, String>>,
}

/// Handle to the receipt writer task.
#[derive(Clone)]
pub struct ReceiptWriter {
    tx: mpsc::Sender<Job>,
}

impl ReceiptWriter {
    /// Starts the writer task; it ends when the handle is dropped.
    pub fn start(store: Store, clock: crate::clock::Clock) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut jobs = vec![first];
                while jobs.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let items: Vec<_> = jobs
                    .iter()
                    .map(|j| (j.event.clone(), j.report.clone()))
                    .collect();
                match store.apply_receipts(&items, clock.now()).await {
                    Ok(new) => {
                        for (j, n) in jobs.into_iter().zip(new) {
                            let _ = j.done.send(Ok(n));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, receipts = jobs.len(), "receipts not stored");
                        for j in jobs {
                            let _ = j.done.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Stores one receipt; `Ok(false)` when its envelope id was seen before.
    pub async fn submit(
        &self,
        event: Option<(String, String)>,
        report: StatusReport,
    ) -> Result<bool, super::AppError> {
        let (done, wait) = oneshot::channel();
        let gone = || super::AppError::Config("the receipt writer has stopped".into());
        self.tx
            .send(Job {
                event,
                report,
                done,
            })
            .await
            .map_err(|_| gone())?;
        wait.await
            .map_err(|_| gone())?
            .map_err(super::AppError::Config)
    }
}
