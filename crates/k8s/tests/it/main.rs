//! Integration tests: the real kubectl against a tiny test server built from this crate's
//! documents (discovery, OpenAPI, Table, patch, Status).

mod kubectl;
mod server;
mod util;
