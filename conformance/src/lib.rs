//! # switchyard-conformance
//!
//! Replays recorded provider traffic against a plugin loaded through the real ABI (the host's
//! own loader), and checks what it produces against switchyard's expectation files:
//! the upstream request, the normalized response or stream, the classified error. Streams are
//! decoded whole, one byte at a time and split at random points; all must agree.
//!
//! The format is documented in `docs/conformance.md`.

pub mod compare;
pub mod expectation;
pub mod recorded;
pub mod runner;
pub mod stream;

pub use runner::{default_fixtures_dir, run, CaseResult, Report, RunOptions};
