//! Group commit for delivery receipts ([`super::group_commit`]): each is
//! acknowledged only once it is stored.

use super::group_commit::GroupCommit;
use crate::gateway::StatusReport;
use crate::store::Store;

/// (gateway, envelope id): applied only the first time it is seen.
type Receipt = (Option<(String, String)>, StatusReport);

/// Handle to the receipt writer task.
#[derive(Clone)]
pub struct ReceiptWriter {
    writer: GroupCommit<Receipt, bool>,
}

impl ReceiptWriter {
    /// Starts the writer task; it ends when the handle is dropped.
    pub fn start(store: Store, clock: crate::clock::Clock) -> Self {
        let writer = GroupCommit::start("receipt", move |items: Vec<Receipt>| {
            let (store, now) = (store.clone(), clock.now());
            async move {
                store
                    .apply_receipts(&items, now)
                    .await
                    .map_err(|e| e.to_string())
            }
        });
        Self { writer }
    }

    /// Stores one receipt; `Ok(false)` when its envelope id was seen before.
    pub async fn submit(
        &self,
        event: Option<(String, String)>,
        report: StatusReport,
    ) -> Result<bool, super::AppError> {
        self.writer.submit((event, report)).await
    }
}
