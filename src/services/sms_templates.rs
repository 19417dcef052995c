//! Approved templates for the cloud SMS providers (Aliyun, Tencent Cloud),
//! which send no free text: each campaign step and each broadcast names
//! the template the provider approved and maps its variables to
//! careminder's. Checked when saved, against every configured gateway of
//! that provider; and a campaign is not published, nor a step added to a
//! live one, nor a broadcast created, while a text would have no template
//! for a gateway that needs one. Never discovered at send time.

use super::AppError;
use crate::domain::GatewayKind;
use crate::gateway::Gateways;
use crate::render::{validate_sms, SmsRules, SmsVariant};
use crate::store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct SmsTemplates {
    pub(crate) store: Store,
    pub(crate) clock: crate::clock::Clock,
    pub(crate) gateways: Arc<Gateways>,
}

impl SmsTemplates {
    /// The configured gateways that send only approved templates, with
    /// what each allows.
    pub fn needing_templates(&self) -> Vec<(GatewayKind, SmsRules)> {
        self.gateways
            .names()
            .filter_map(|n| {
                let e = self.gateways.get(n)?;
                let kind = e.config.kind();
                kind.needs_template()
                    .then(|| e.config.sms_rules(n).map(|r| (kind, r)))
                    .flatten()
            })
            .collect()
    }

    /// Checks a template against every gateway of its provider; returns
    /// the sample text she would read (through the first such gateway).
    pub fn check(&self, v: &SmsVariant, promotional_step: bool) -> Result<String, AppError> {
        let mut sample = None;
        for (kind, rules) in self.needing_templates() {
            if kind != v.provider {
                continue;
            }
            let s = validate_sms(v, &rules, promotional_step)
                .map_err(|e| AppError::Refused(format!("{} template: {e}", v.provider.as_str())))?;
            sample.get_or_insert(s);
        }
        sample.ok_or_else(|| {
            AppError::Refused(format!(
                "no gateway of kind {:?} is configured: its templates would never be used",
                v.provider.as_str()
            ))
        })
    }

    /// Saves (or removes) a campaign step's template for one provider.
    /// Returns the sample text.
    pub async fn set(
        &self,
        campaign: &str,
        step: &str,
        provider: GatewayKind,
        variant: Option<SmsVariant>,
        actor: &str,
    ) -> Result<Option<String>, AppError> {
        if !provider.needs_template() {
            return Err(AppError::Refused(format!(
                "{:?} sends free text: templates are for aliyun and tencent",
                provider.as_str()
            )));
        }
        let step_id = self.store.step_id(campaign, step).await?;
        let outreach = self
            .store
            .campaigns()
            .await?
            .into_iter()
            .any(|(k, _, _, outreach, _)| k == campaign && outreach);
        let now = self.clock.now();
        let mut sample = None;
        if let Some(v) = &variant {
            if v.provider != provider {
                return Err(AppError::Refused("provider: does not match".into()));
            }
            sample = Some(self.check(v, outreach)?);
        } else if campaign_is_active(&self.store, campaign).await?
            && self.needing_templates().iter().any(|(k, _)| *k == provider)
        {
            return Err(AppError::Refused(format!(
                "{campaign}/{step}: the campaign is active and a {} gateway needs this template: pause the campaign first",
                provider.as_str()
            )));
        }
        let v = variant.map(|v| SmsVariant { step_id, ..v });
        self.store
            .set_sms_variant(step_id, provider, v.as_ref(), actor, now)
            .await?;
        self.store
            .audit(
                now,
                actor,
                if v.is_some() {
                    "sms_template_saved"
                } else {
                    "sms_template_removed"
                },
                &format!("step:{step_id}:{}", provider.as_str()),
                &v.map(|v| serde_json::to_string(&v).expect("json"))
                    .unwrap_or_default(),
            )
            .await?;
        Ok(sample)
    }

    /// Refuses when a step of `campaign` (every active campaign: `None`)
    /// has no template for a configured gateway that needs one, naming
    /// the step and the gateway.
    pub async fn require_for(&self, campaign: Option<&str>) -> Result<(), AppError> {
        for (kind, rules) in self.needing_templates() {
            if let Some((c, s, _)) = self
                .store
                .steps_without_sms_template(campaign, kind)
                .await?
                .into_iter()
                .next()
            {
                return Err(AppError::Refused(format!(
                    "step {c}/{s} has no approved template for gateway {} ({}), which sends only templates: map one first (on the campaign's page, or `careminder campaign sms-template {c} {s} --provider {}`)",
                    rules.gateway,
                    kind.as_str(),
                    kind.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Logs every active step without a template a configured gateway
    /// needs (a configuration changed under a running county).
    pub async fn warn_missing(&self) {
        for (kind, rules) in self.needing_templates() {
            match self.store.steps_without_sms_template(None, kind).await {
                Ok(missing) => {
                    for (c, s, _) in missing {
                        tracing::error!(
                            campaign = %c,
                            step = %s,
                            gateway = %rules.gateway,
                            "step has no approved template for this gateway: its messages go by the failover gateway, or fail"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not check SMS templates"),
            }
        }
    }
}

async fn campaign_is_active(store: &Store, key: &str) -> Result<bool, AppError> {
    Ok(store
        .campaigns()
        .await?
        .into_iter()
        .any(|(k, _, status, _, _)| k == key && status == "active"))
}

/// Whether `campaign` is active, for the campaign service.
pub(crate) async fn is_active(store: &Store, key: &str) -> Result<bool, AppError> {
    campaign_is_active(store, key).await
}
