//! What the engine needs of its backends, in the engine's vocabulary and no backend's types.
//!
//! Two traits: [`PackageRepository`] (package revisions in a registered repository: discovery,
//! content, lifecycle moves; opened by a [`Backend`]) and [`Store`] (what Git cannot hold:
//! revision metadata rows, registered objects, the resourceVersion counter). The Git backend
//! (`veranda-repo`) and the SQLite store (`veranda-store`) implement them; [`memory`] holds
//! in-memory implementations with fault injection for tests, and [`conformance`] the checks
//! every implementation must pass.
//!
//! Design decisions:
//! * The traits are synchronous and their methods may block (Git, SQL): the engine calls them
//!   through one adapter that runs each call on the blocking pool, so no implementation needs
//!   an async runtime and the engine never blocks its reactor.
//! * A lifecycle move is one method (`propose`, `approve`, ...), never a ref update: the engine
//!   names no ref and no object id. A revision is handed back as the [`Discovered`] the
//!   repository listed, which carries whatever the implementation needs to find it again.
#![warn(missing_docs)]

mod credentials;
mod error;
mod repository;
mod store;

pub mod conformance;
pub mod copy;
pub mod memory;

pub use crate::{
    credentials::{CredentialSource, Credentials},
    error::{Error, ErrorKind},
    repository::{
        Author, Backend, Content, Discovered, EntryMode, FetchedPackage, Files, Lifecycle, Listing,
        Modes, NewDraft, PackageRepository, RefKind, RepositoryConfig, Upstream,
    },
    store::{
        Applied, Change, FeedEntry, FeedRead, FeedTable, Held, ObjectRow, ObjectTable, RevisionRow,
        SharedLock, Store,
    },
};
