//! The original's request parsing and content negotiation, reproduced where Rust's libraries
//! word things differently: Python's `json` module (CPython 3.11, the original's runtime) with
//! DRF's strict constants, Django's multipart parser, Django's `parse_header_parameters`, and
//! DRF's `DefaultContentNegotiation` over the original's two renderers.
//!
//! Everything here works on a body that is already read and bounded (`RIVO_MAX_BODY_BYTES`).

mod json;
mod multipart;
mod negotiation;
#[cfg(test)]
mod tests;
mod value;

pub use json::parse_json;
pub use multipart::{MultipartValue, parse_multipart};
pub use negotiation::{NegotiationError, Parser, negotiate, reindent, select_parser};
pub use value::{PyNumber, PyValue};
