//! # careminder
//!
//! Reminds pregnant women of their free prenatal check-ups and postpartum
//! follow-ups, over SMS and WeChat, from a schedule kept in SQLite; alerts
//! their health officers when a visit is overdue; runs campaigns.
//!
//! For every registered pregnancy careminder keeps the visits its care plan
//! calls for; turns campaign steps ("3 days before each check-up at 09:00")
//! into dated messages in an outbox; sends each one when it is due through a
//! pluggable gateway; and records every status and every reply.
//!
//! # Layout
//!
//! Dependencies point one way, down this list: a module uses only those
//! below it (`tests/api/architecture.rs` fails on a cycle).
//!
//! | layer | modules | owns |
//! |---|---|---|
//! | entry points | [`cli`], [`web`], [`demo`], [`bench`] | the command line (a file per verb), HTTP (API, console, `serve`) |
//! | wiring | [`app`] | builds the store, the gateways and every service |
//! | scheduling | [`scheduler`] | the tick (each stage fails alone) and its loop |
//! | services | [`services`] | every business rule: care, consent, access, campaigns, replies, broadcasts, jobs, planning, dispatch |
//! | storage | [`store`] | every SQL statement; SQLite's own parts in `store::sqlite` |
//! | settings | [`config`] | the configuration, the database URL |
//! | channels | [`gateway`] | the `Gateway` trait, the registry, one folder per channel (sender, settings, webhook, protocol cases) |
//! | texts | [`render`] | Tera templates, validated when saved |
//! | ground | [`domain`], [`clock`], [`metrics`], [`qr`] | pure types and rules, the one "now", counters, QR cards |
//!
//! A channel's webhooks reach services only through
//! [`gateway::backend::Backend`], which the application implements.

pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod gateway;
pub mod metrics;
pub mod qr;
pub mod render;
pub mod scheduler;
pub mod services;
pub mod store;
pub mod web;

pub use app::App;
pub use clock::Clock;
pub use config::Config;
