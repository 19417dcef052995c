//! Sending: a batch's messages grouped into calls (a provider's batch of
//! one template, or one message alone), each call within its gateway's
//! rate and only while the batch's lease holds, with the failover for a
//! message the route's gateway refuses for our configuration.

use super::lease::Lease;
use crate::domain::Channel;
use crate::gateway::{Gateways, OutgoingMessage, SendOutcome};
use chrono::{DateTime, Utc};

/// How a message goes: by SMS through its route, or through a named
/// WeChat or WeCom gateway.
#[derive(Debug, Clone)]
pub(super) enum Via {
    /// By SMS through this gateway; `failover`: why not its own route's.
    Sms {
        gateway: String,
        failover: Option<String>,
    },
    Gateway {
        name: String,
        channel: Channel,
    },
}

impl Via {
    pub(super) fn channel(&self) -> Channel {
        match self {
            Via::Sms { .. } => Channel::Sms,
            Via::Gateway { channel, .. } => *channel,
        }
    }

    pub(super) fn gateway(&self) -> &str {
        match self {
            Via::Sms { gateway, .. } => gateway,
            Via::Gateway { name, .. } => name,
        }
    }
}

/// One message as a gateway took it (or refused it).
pub(super) struct Sent {
    pub(super) i: usize,
    pub(super) gateway: String,
    pub(super) channel: Channel,
    /// Why it went through another gateway than its route's.
    pub(super) failover: Option<String>,
    pub(super) out: OutgoingMessage,
    pub(super) outcome: SendOutcome,
    /// The route's gateway refused our configuration before the failover
    /// took it: (gateway, reason), for the administrators.
    pub(super) refused_by: Option<(String, String)>,
    /// Not handed over: the batch's claim lapsed first.
    pub(super) lapsed: bool,
}

/// The sends of a batch as calls: `batchable` messages a gateway can take
/// together (a cloud provider's batch of one template) in one job of at
/// most its batch limit, every other message alone.
pub(super) fn jobs(
    gateways: &Gateways,
    to_send: Vec<(usize, (OutgoingMessage, Via))>,
    batchable: impl Fn(usize) -> bool,
) -> Vec<Vec<(usize, OutgoingMessage, Via)>> {
    let mut jobs = vec![];
    let mut batches: std::collections::BTreeMap<(String, String), Vec<_>> = Default::default();
    for (i, (out, via)) in to_send {
        let key = gateways.get(via.gateway()).and_then(|e| {
            (batchable(i) && e.gateway.batch_limit() > 1)
                .then(|| e.gateway.batch_key(&out))
                .flatten()
        });
        match key {
            Some(k) => batches
                .entry((via.gateway().to_string(), k))
                .or_default()
                .push((i, out, via)),
            None => jobs.push(vec![(i, out, via)]),
        }
    }
    for ((name, _), list) in batches {
        let limit = gateways
            .get(&name)
            .map(|e| e.gateway.batch_limit())
            .unwrap_or(1)
            .max(1);
        let mut list = list.into_iter().peekable();
        while list.peek().is_some() {
            jobs.push(list.by_ref().take(limit).collect());
        }
    }
    jobs
}

/// Sends one job through its gateway, within the gateway's rate; a
/// message the gateway refuses for our configuration (no approved
/// template, no balance) goes at once through its failover, when that one
/// sends free text.
pub(super) async fn send_job(
    gateways: &Gateways,
    metrics: &crate::metrics::Metrics,
    lease: &Lease,
    job: Vec<(usize, OutgoingMessage, Via)>,
    now: DateTime<Utc>,
) -> Vec<Sent> {
    let mut done = Vec::with_capacity(job.len());
    let Some(name) = job.first().map(|(_, _, v)| v.gateway().to_string()) else {
        return done;
    };
    let entry = gateways.get(&name).expect("a configured gateway");
    let sent = |i, out, via: &Via, outcome| Sent {
        i,
        gateway: name.clone(),
        channel: via.channel(),
        failover: match via {
            Via::Sms { failover, .. } => failover.clone(),
            Via::Gateway { .. } => None,
        },
        out,
        outcome,
        refused_by: None,
        lapsed: false,
    };
    let mut ready = Vec::with_capacity(job.len());
    for (i, out, via) in job {
        let parts = match via {
            Via::Sms { .. } => crate::domain::sms::measure(&out.body).parts,
            Via::Gateway { .. } => 1,
        };
        if parts > entry.config.max_parts {
            let reason = format!(
                "{parts} SMS parts: longer than the {} this gateway takes",
                entry.config.max_parts
            );
            done.push(sent(i, out, &via, SendOutcome::Permanent { reason }));
            continue;
        }
        entry.wait_for_capacity(parts).await;
        if !lease.holds() {
            let mut given_back = sent(
                i,
                out,
                &via,
                SendOutcome::Transient {
                    reason: "the claim lapsed before the hand-over".into(),
                    retry_after: None,
                },
            );
            given_back.lapsed = true;
            done.push(given_back);
            continue;
        }
        ready.push((i, out, via, parts));
    }
    if ready.is_empty() {
        return done;
    }
    let outs: Vec<OutgoingMessage> = ready.iter().map(|(_, o, _, _)| o.clone()).collect();
    let started = std::time::Instant::now();
    let outcomes = if outs.len() == 1 {
        vec![entry.gateway.send(&outs[0]).await]
    } else {
        entry.gateway.send_batch(&outs).await
    };
    metrics
        .send_seconds
        .get_or_create(&crate::metrics::GatewayLabel {
            gateway: name.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    for ((i, out, via, parts), outcome) in ready.into_iter().zip(outcomes) {
        if outcome.handed_over() {
            entry.record_success(now);
        }
        if let (SendOutcome::Misconfigured { reason }, Via::Sms { .. }, Some(f)) =
            (&outcome, &via, entry.config.failover.as_deref())
        {
            if let Some(fe) = gateways
                .get(f)
                .filter(|e| !e.config.kind().needs_template())
            {
                tracing::info!(
                    message_id = out.id,
                    gateway = f,
                    "refused by its gateway's configuration: failed over"
                );
                let mut again = out.clone();
                again.sms_template = None;
                fe.wait_for_capacity(parts).await;
                let outcome = fe.gateway.send(&again).await;
                if outcome.handed_over() {
                    fe.record_success(now);
                }
                done.push(Sent {
                    i,
                    gateway: f.to_string(),
                    channel: Channel::Sms,
                    failover: Some(format!("failover: {reason}")),
                    out: again,
                    outcome,
                    refused_by: Some((name.clone(), reason.clone())),
                    lapsed: false,
                });
                continue;
            }
        }
        if let Via::Sms {
            failover: Some(_), ..
        } = &via
        {
            tracing::info!(message_id = out.id, gateway = %name, "failed over");
        }
        done.push(sent(i, out, &via, outcome));
    }
    done
}
