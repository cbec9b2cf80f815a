//! The transaction owner's error, apart so the library's `Error` can carry
//! it without the owner's own imports.

use crate::caps::CapError;

/// Why the journal could not do its part. Never a reason to commit.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TxnError(#[from] pub CapError);
