//! ArcGuard rule engine.
//!
//! Everything that inspects a request lives here, in plain Rust that
//! `cargo test` runs natively. The `arcguard-wasm` crate is a thin ABI
//! wrapper that moves bytes in and out of this crate.
//!
//! The flow is: [`RuleSet::compile`] once (a configuration error names the
//! rule and position), then [`RuleSet::evaluate`] per request on a
//! [`Request`] decoded by [`Request::decode`], giving one [`RuleResult`] per
//! rule, serialised for the host by [`encode_results`].

mod bot;
mod config;
mod email;
mod filter;
mod limits;
mod request;
mod result;
mod ruleset;
mod shield;

pub use config::ConfigError;
pub use limits::Limits;
pub use request::{DecodeError, Request};
pub use result::{encode_results, Conclusion, RuleResult};
pub use ruleset::RuleSet;
pub use shield::{scan_value, Category, Finding};
