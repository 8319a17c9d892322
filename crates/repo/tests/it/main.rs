//! Integration tests of `veranda-repo` against real git repositories built with the `git` CLI,
//! served locally, over HTTP(S) or over SSH on 127.0.0.1.

mod conformance;
mod direct;
mod discovery;
mod http;
mod http_server;
mod https;
mod incremental;
mod lifecycle;
mod modes;
mod open;
mod recovery;
mod scale;
mod smart_http;
mod ssh;
mod ssh_server;
mod timeouts;
mod util;
