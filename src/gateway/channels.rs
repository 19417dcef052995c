//! The one list of channels: how each kind of gateway is built from its
//! settings, and the webhook routes of those that call us back. A new
//! channel is a folder beside the others (its sender, `Settings`,
//! `webhook.rs`), a variant of `settings::ChannelSettings` and of
//! `domain::GatewayKind`, and one line in each list below.

use super::backend::SharedBackend;
use super::settings::ChannelSettings;
use super::{aliyun, android, cht, tencent, twilio, wechat, wecom};
use super::{Gateway, GatewayConfig, GatewayConfigError, MockGateway};
use axum::Router;
use std::sync::Arc;

/// A gateway as built, by what the registry keeps of it beside the trait
/// object: the mock (for tests and the demo), the one WeChat account and
/// the one WeCom application (their bindings and callbacks), or an SMS
/// route.
pub(super) enum Built {
    Mock(Arc<MockGateway>),
    Wechat(Arc<wechat::Wechat>),
    Wecom(Arc<wecom::Wecom>),
    Sms(Arc<dyn Gateway>),
}

/// Builds the gateway `name` (configured under `key`) from its settings.
pub(super) fn construct(
    name: &str,
    key: &str,
    g: &GatewayConfig,
    public_url: &str,
    clock: &crate::clock::Clock,
) -> Result<Built, GatewayConfigError> {
    let name = name.to_string();
    Ok(match &g.channel {
        ChannelSettings::Mock(m) => Built::Mock(Arc::new(
            MockGateway::new(name, m.clone(), clock.clone())
                .map_err(GatewayConfigError::RecordFile)?,
        )),
        ChannelSettings::Android(s) => {
            Built::Sms(Arc::new(android::Android::new(name, key, g, s)?))
        }
        ChannelSettings::Twilio(s) => {
            Built::Sms(Arc::new(twilio::Twilio::new(name, key, g, s, public_url)?))
        }
        ChannelSettings::Cht(s) => Built::Sms(Arc::new(cht::Cht::new(name, key, g, s)?)),
        ChannelSettings::Aliyun(s) => Built::Sms(Arc::new(aliyun::Aliyun::new(
            name,
            key,
            g,
            s,
            clock.clone(),
        )?)),
        ChannelSettings::Tencent(s) => Built::Sms(Arc::new(tencent::Tencent::new(
            name,
            key,
            g,
            s,
            clock.clone(),
        )?)),
        ChannelSettings::Wechat(s) => Built::Wechat(Arc::new(wechat::Wechat::new(
            name,
            key,
            g,
            s,
            clock.clone(),
        )?)),
        ChannelSettings::Wecom(s) => {
            Built::Wecom(Arc::new(wecom::Wecom::new(name, key, g, s, clock.clone())?))
        }
    })
}

/// The routes of every channel that calls us back: `/webhooks/...` and
/// `/gateways/cht`.
pub fn webhook_routes(b: SharedBackend) -> Router<SharedBackend> {
    Router::new()
        .merge(super::mock::webhook::routes(b))
        .merge(android::webhook::routes())
        .merge(twilio::webhook::routes())
        .merge(cht::webhook::routes())
        .merge(wechat::webhook::routes())
        .merge(aliyun::webhook::routes())
        .merge(tencent::webhook::routes())
}
