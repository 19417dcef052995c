//! Pure types and rules, no I/O: pregnancy dates, care plans, phone numbers,
//! SMS length, triggers and the send window, the closed sets of statuses,
//! roles, channels and languages, and what crosses a channel.

pub mod careplan;
pub mod dates;
pub mod delivery;
pub mod id_card;
pub mod indicators;
pub mod keywords;
pub mod kinds;
pub mod period;
pub mod phone;
pub mod risk;
pub mod schedule;
pub mod secret;
pub mod sms;
pub mod sms_template;
pub mod transfer;

#[cfg(test)]
mod properties;

pub use careplan::{CarePlan, PlannedVisit};
pub use dates::{GestationalAge, PregnancyDates};
pub use delivery::{
    NewInbound, Received, ReportedStatus, StatusReport, TemplateMessage, WechatEvent,
};
pub use id_card::IdCard;
pub use kinds::{
    Channel, GatewayKind, Language, MessageKind, MessageStatus, PregnancyStatus, Role, UnknownValue,
};
pub use period::{Period, PeriodError};
pub use phone::Phone;
pub use schedule::{SendWindow, Trigger, TriggerAnchor};
