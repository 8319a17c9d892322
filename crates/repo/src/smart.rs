//! Git's smart HTTP protocol, spoken by us for the two exchanges whose cost libgit2 makes grow
//! with the number of refs of the remote: a push, and the check whether the branch moved before
//! an approval or a deletion.
//!
//! libgit2's push marks, for every ref the remote advertises, the whole tree of its commit as
//! already there (`mark_edges_uninteresting`), and its fetch looks every advertised ref up in
//! the cache: with 10,000 tags each write paid for both. Here a push ([`push`]) reads the
//! receive-pack advertisement once, checks each update's compare-and-swap or fast-forward
//! condition against it (as `push_negotiation` does), and sends the commands with a pack of just
//! the objects the new commits add over their parents ([`objects`]); the branch check
//! ([`branch_head`]) asks the server for one ref with protocol v2's `ls-refs`.
//!
//! Anything this client does not handle falls back to libgit2, which then does the whole
//! operation as before ([`Failure::Unsupported`]): a URL with user information, a redirect, any
//! answer other than 200, a dumb server, a server without `report-status` or `ofs-delta`, a pack
//! the server could not unpack, a history too long to walk here. Failures libgit2 would meet the
//! same way (an unreachable host, a timeout, a refused certificate) are reported at once
//! ([`Failure::Failed`]). With several updates and a server that offers `atomic`, the push is
//! atomic: all refs move or none does.

mod http;
mod objects;
mod pktline;
mod receive;
mod refs;

pub(crate) use receive::push;
pub(crate) use refs::branch_head;

use crate::Error;

/// Why this client did not complete an exchange.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Something this client does not do; libgit2 should do the whole operation instead.
    Unsupported(String),
    /// The operation failed in a way libgit2 would fail too.
    Failed(Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Failure {
        Failure::Failed(err)
    }
}

impl From<git2::Error> for Failure {
    fn from(err: git2::Error) -> Failure {
        Failure::Failed(err.into())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{http, pktline, receive, refs};

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// What a remote sends is parsed without panicking, whatever it is.
        #[test]
        fn parsers_of_server_answers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut reader = pktline::Reader::new(&bytes);
            while let Ok(Some(_)) = reader.next_packet() {}
            let _ = refs::parse_v0(&bytes, "git-receive-pack");
            let _ = receive::parse_report(&bytes);
            let _ = http::dechunk(&bytes);
        }

        /// The same for inputs that are mostly well-formed packets.
        #[test]
        fn parsers_of_framed_answers_never_panic(lines in proptest::collection::vec("[0-9a-f ]{0,50}(\\x00[a-z =-]{0,20})?\n?", 0..8)) {
            let mut body = Vec::new();
            for line in &lines {
                let _ = pktline::write(&mut body, line.as_bytes());
            }
            pktline::flush(&mut body);
            let _ = refs::parse_v0(&body, "git-receive-pack");
            let _ = receive::parse_report(&body);
        }
    }
}
