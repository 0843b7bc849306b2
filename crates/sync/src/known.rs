//! Known state: what ConnectWise holds for a customer, and what hyalto recorded writing there.
//!
//! [`read_known`] is the only part of planning that does I/O. It reads, for one mapped
//! customer: the master agreement, every child agreement under it (all pages), the additions of
//! every child hyalto owns (linked, or carrying one of its ownership keys), and the store's
//! links. The planner then works on the result without touching the network.

use std::collections::{HashMap, HashSet};

use hyalto_connectwise::models::{Addition, Agreement};
use hyalto_connectwise::{Client, Field, ListQuery};
use hyalto_store::{Links, Store};

use crate::desired::DesiredCustomer;
use crate::error::SyncError;
use crate::keys::{child_key, key_in_notes};

/// The master agreement's settings that child agreements copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Master {
    /// Its id.
    pub id: i64,
    /// Its company.
    pub company_id: i64,
    /// Its agreement type, the default type of children.
    pub type_id: Option<i64>,
    /// Its contact, copied to children.
    pub contact_id: Option<i64>,
    /// Its billing cycle; ConnectWise requires a child to share it.
    pub billing_cycle_id: Option<i64>,
}

/// Whether the master agreement can take children.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MasterState {
    /// It exists, is not cancelled and belongs to the mapped company.
    Usable(Master),
    /// It does not exist (any more).
    Missing,
    /// It is cancelled.
    Cancelled,
    /// It belongs to another company than the mapping says.
    WrongCompany {
        /// The company it belongs to.
        actual: Option<i64>,
    },
}

impl MasterState {
    /// Reads the state of a master agreement as ConnectWise returned it.
    pub fn from_agreement(agreement: &Agreement, company_id: i64) -> MasterState {
        let actual = agreement.company.as_ref().and_then(|company| company.id);
        if agreement.cancelled_flag == Some(true) {
            return MasterState::Cancelled;
        }
        if actual != Some(company_id) {
            return MasterState::WrongCompany { actual };
        }
        MasterState::Usable(Master {
            id: agreement.id,
            company_id,
            type_id: agreement.agreement_type.as_ref().and_then(|kind| kind.id),
            contact_id: agreement.contact.as_ref().and_then(|contact| contact.id),
            billing_cycle_id: agreement.billing_cycle.as_ref().and_then(|cycle| cycle.id),
        })
    }
}

/// What ConnectWise and the store hold for one customer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownCustomer {
    /// The master agreement; `None` only in a default value.
    pub master: Option<MasterState>,
    /// Every child agreement of the master.
    pub children: Vec<Agreement>,
    /// The additions of each child hyalto owns, by agreement id.
    pub additions: HashMap<i64, Vec<Addition>>,
    /// What hyalto recorded writing for the customer.
    pub links: Links,
}

/// Reads the known state of a customer that is not skipped.
///
/// A master agreement that does not exist is reported as [`MasterState::Missing`] rather than
/// an error, so the customer is skipped with a clear reason.
pub async fn read_known<S: Store>(
    client: &Client,
    store: &S,
    desired: &DesiredCustomer,
) -> Result<KnownCustomer, SyncError> {
    let mapping = &desired.mapping;
    let links = store.links_for_customer(&desired.id).await?;

    // The master first: without a usable master nothing else is worth reading.
    let master = match client.agreement(mapping.agreement_id).await {
        Ok(agreement) => MasterState::from_agreement(&agreement, mapping.company_id),
        Err(hyalto_connectwise::Error::NotFound { .. }) => MasterState::Missing,
        Err(error) => return Err(error.into()),
    };
    if !matches!(master, MasterState::Usable(_)) {
        return Ok(KnownCustomer {
            master: Some(master),
            links,
            ..KnownCustomer::default()
        });
    }

    let children = client
        .agreements(&ListQuery::filter(
            Field::new("parentAgreement/id").eq(mapping.agreement_id),
        ))
        .await?;

    // Additions are read only for children hyalto owns: those it has an active link to, and
    // those carrying the key it would give a service's current child (written by a run that
    // died before recording it). Other children are not hyalto's business.
    let linked: HashSet<i64> = links
        .agreements
        .iter()
        .filter(|recorded| recorded.link.ended_on.is_none())
        .map(|recorded| recorded.link.agreement_id)
        .collect();
    let expected_keys: HashSet<String> = desired
        .services
        .iter()
        .map(|service| child_key(&desired.id, &service.id, service.start_date))
        .collect();
    let owned: Vec<i64> = children
        .iter()
        .filter(|child| {
            linked.contains(&child.id)
                || child
                    .internal_notes
                    .as_deref()
                    .and_then(key_in_notes)
                    .is_some_and(|key| expected_keys.contains(key))
        })
        .map(|child| child.id)
        .collect();

    // FIXME(#3): one additions call per owned child; ConnectWise has no cross-agreement
    // additions endpoint, so a customer with thousands of services costs thousands of reads.
    let mut additions = HashMap::with_capacity(owned.len());
    for agreement_id in owned {
        let lines = client
            .additions(agreement_id, &ListQuery::default())
            .await?;
        additions.insert(agreement_id, lines);
    }

    Ok(KnownCustomer {
        master: Some(master),
        children,
        additions,
        links,
    })
}
