//! Pure types and rules, no I/O: pregnancy dates, care plans, phone numbers,
//! SMS length, triggers and the send window.

pub mod careplan;
pub mod dates;
pub mod keywords;
pub mod phone;
pub mod schedule;
pub mod sms;

#[cfg(test)]
mod properties;

pub use careplan::{CarePlan, PlannedVisit};
pub use dates::{GestationalAge, PregnancyDates};
pub use phone::Phone;
pub use schedule::{SendWindow, Trigger, TriggerAnchor};
