//! Integration tests: one binary, the real app on a fresh database in a
//! temporary directory, an injected clock, the mock gateway.

mod helpers;

mod architecture;
mod bench;
mod beside;
mod browser;
mod cloud;
mod console;
mod crash;
mod delivery;
mod demo;
mod deployment;
mod disk;
mod figures;
mod fleet;
mod gateways;
mod hostile;
mod http;
mod import;
mod indicators;
mod install;
mod instances;
mod metrics;
mod moves;
mod officers;
mod openapi;
mod outreach;
mod postgres;
mod powercut;
mod privacy;
mod registers;
mod replanning;
mod replies;
mod risk;
mod rules;
mod schedule;
mod scheduler;
mod shared;
mod standalone;
mod upgrades;
mod wechat;
mod zones;
