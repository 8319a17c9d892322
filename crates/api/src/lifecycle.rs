//! The package revision lifecycle and its state machine.
//!
//! Allowed moves: Draft→Proposed, Draft→Published, Proposed→Draft, Proposed→Published,
//! Published→DeletionProposed. Deletion is final: nothing leaves DeletionProposed except delete.
//! Publishing always goes through the `/approval` subresource.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Lifecycle stage of a package revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lifecycle {
    Draft,
    Proposed,
    Published,
    DeletionProposed,
}

/// Which endpoint asks for a lifecycle change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `PUT/PATCH .../packagerevisions/<name>`.
    Update,
    /// `PUT/PATCH .../packagerevisions/<name>/approval`.
    Approval,
}

impl Lifecycle {
    /// All values in their canonical order.
    pub const ALL: [Lifecycle; 4] =
        [Lifecycle::Draft, Lifecycle::Proposed, Lifecycle::Published, Lifecycle::DeletionProposed];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Draft => "Draft",
            Lifecycle::Proposed => "Proposed",
            Lifecycle::Published => "Published",
            Lifecycle::DeletionProposed => "DeletionProposed",
        }
    }

    /// Parses a wire name; the empty string means Draft.
    pub fn parse(s: &str) -> Option<Lifecycle> {
        match s {
            "" | "Draft" => Some(Lifecycle::Draft),
            "Proposed" => Some(Lifecycle::Proposed),
            "Published" => Some(Lifecycle::Published),
            "DeletionProposed" => Some(Lifecycle::DeletionProposed),
            _ => None,
        }
    }

    /// Published or DeletionProposed: the content is final.
    pub fn is_published(self) -> bool {
        matches!(self, Lifecycle::Published | Lifecycle::DeletionProposed)
    }

    /// Checks a lifecycle move requested through `endpoint`.
    ///
    /// Staying in the same state is always allowed (metadata-only updates).
    pub fn check_transition(self, to: Lifecycle, endpoint: Endpoint) -> Result<(), String> {
        use Lifecycle as L;
        if self == to {
            return Ok(());
        }
        let allowed = matches!(
            (self, to),
            (L::Draft, L::Proposed)
                | (L::Draft, L::Published)
                | (L::Proposed, L::Draft)
                | (L::Proposed, L::Published)
                | (L::Published, L::DeletionProposed)
        );
        if !allowed {
            let hint = match self {
                // Porch's text (porchctl's propose-delete).
                L::Draft | L::Proposed if to == L::DeletionProposed => {
                    "; can only propose published packages for deletion"
                }
                L::DeletionProposed => "; a revision proposed for deletion can only be deleted",
                L::Published => {
                    "; a published revision can only be proposed for deletion (DeletionProposed)"
                }
                _ => "",
            };
            return Err(format!(
                "cannot change lifecycle from {} to {}{hint}",
                self.as_str(),
                to.as_str()
            ));
        }
        if to == L::Published && endpoint == Endpoint::Update {
            return Err(format!(
                "cannot change lifecycle from {} to Published through an update; \
                 publishing requires the approval subresource",
                self.as_str()
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
