//! The errors that stop a whole sync. Failures of one customer are not errors here: they go
//! into the plan and the run report, and the other customers go on.

use hyalto_domain::CustomerId;
use hyalto_store::StoreError;

/// Why a sync (or a plan) could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Another sync holds the sync lease.
    #[error("another sync ({holder}) is running; try again when it has finished")]
    Busy {
        /// The lease holder.
        holder: String,
    },

    /// Something the sync needs is not set up.
    #[error("the sync is not set up: {message}")]
    NotConfigured {
        /// What is missing and how to set it up.
        message: String,
    },

    /// The asked-for customer is not known or not mapped.
    #[error(
        "customer {customer} is not mapped to a ConnectWise company; map it with \
         `hyalto connectwise map --customer {customer} ...`"
    )]
    NotMapped {
        /// The customer.
        customer: CustomerId,
    },

    /// A choice of the sync names a customer or installation it cannot apply to; nothing was
    /// read from ConnectWise or written anywhere.
    #[error("{message}")]
    InvalidOption {
        /// What is wrong and what to write instead.
        message: String,
    },

    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// ConnectWise failed in a way that concerns the whole sync.
    #[error(transparent)]
    ConnectWise(#[from] hyalto_connectwise::Error),
}
