//! Checks that the API member's security role allows every write a sync makes, without writing.
//!
//! ConnectWise decides about the security role before it looks at a request's body: a member
//! without the right gets 403 whatever is sent, and a member with it gets the body's validation
//! errors (400), or 404 when the record named in the path does not exist. So each write hyalto
//! makes is sent once with a body that can never be saved: record ids of 0 (ConnectWise numbers
//! records from 1) and a required field missing or emptied. A 400 or 404 means the right is
//! there, a 403 means it is missing.
//!
//! A probe is built so that no server could store it, but a server that answers one with
//! success has stored or changed something: the check then stops and names the record so the
//! user can remove it.

use hyalto_connectwise::models::PatchOperation;
use hyalto_connectwise::{Client, Error};
use serde_json::{Value, json};

use crate::permissions::Right;

/// One write hyalto makes during a sync, sent in a form ConnectWise cannot save.
struct Probe {
    /// The HTTP method.
    method: &'static str,
    /// The path sent, with ids of 0.
    path: &'static str,
    /// The path as a route template, for messages.
    template: &'static str,
    /// What a sync does with this call.
    purpose: &'static str,
    /// The body sent.
    body: fn() -> ProbeBody,
}

/// A probe's body: a record for a POST, operations for a PATCH.
enum ProbeBody {
    Post(Value),
    Patch(Vec<PatchOperation>),
}

// Each body misses a field ConnectWise requires, or empties it, and every id is 0, so that even
// a server that skipped one of those checks has nothing it could save.

/// An agreement without a name, for company 0 and agreement type 0.
fn agreement_without_name() -> ProbeBody {
    ProbeBody::Post(json!({"company": {"id": 0}, "type": {"id": 0}}))
}

/// An addition without a quantity, for product 0.
fn addition_of_product_zero() -> ProbeBody {
    ProbeBody::Post(json!({"product": {"id": 0}, "billCustomer": "Billable"}))
}

/// A change of an addition's product to product 0.
fn product_zero() -> ProbeBody {
    ProbeBody::Patch(vec![PatchOperation::replace("product", json!({"id": 0}))])
}

/// A change of an agreement's required name to nothing.
fn empty_name() -> ProbeBody {
    ProbeBody::Patch(vec![PatchOperation::replace("name", "")])
}

/// The writes a sync makes, in the order a first sync makes them.
const PROBES: [Probe; 4] = [
    Probe {
        method: "POST",
        path: "/finance/agreements",
        template: "/finance/agreements",
        purpose: "create child agreements",
        body: agreement_without_name,
    },
    Probe {
        method: "POST",
        path: "/finance/agreements/0/additions",
        template: "/finance/agreements/{id}/additions",
        purpose: "create additions",
        body: addition_of_product_zero,
    },
    Probe {
        method: "PATCH",
        path: "/finance/agreements/0/additions/0",
        template: "/finance/agreements/{id}/additions/{id}",
        purpose: "change and cancel additions",
        body: product_zero,
    },
    Probe {
        method: "PATCH",
        path: "/finance/agreements/0",
        template: "/finance/agreements/{id}",
        purpose: "end child agreements",
        body: empty_name,
    },
];

/// What one probe found out.
#[derive(Debug)]
pub enum ProbeOutcome {
    /// The role allows the call: ConnectWise went on to validate the body or look the record up.
    Allowed,
    /// The role refuses the call (403).
    Denied {
        /// ConnectWise's request id of the refusal, when it gave one.
        request_id: Option<String>,
    },
    /// The server answered with success, so it may have stored or changed a record.
    Saved {
        /// The record's id, when the answer named one.
        id: Option<i64>,
    },
    /// The answer says nothing about the role (a server error, a timeout, …).
    Unknown {
        /// The failure, in words.
        reason: String,
    },
}

/// The outcome of one probe, with the call it made.
#[derive(Debug)]
pub struct ProbeReport {
    /// `METHOD /route/template`.
    pub call: String,
    /// What a sync does with this call.
    pub purpose: &'static str,
    /// The right that governs the call.
    pub right: Right,
    /// What the probe found out.
    pub outcome: ProbeOutcome,
}

/// Sends every probe and reports each outcome. Stops at the first probe answered with success,
/// so that a server which stores what it should refuse gets no second record.
pub async fn probe_write_rights(client: &Client) -> Vec<ProbeReport> {
    let mut reports = Vec::with_capacity(PROBES.len());

    for probe in &PROBES {
        let outcome = send(client, probe).await;
        tracing::debug!(
            http.method = probe.method,
            http.path = probe.template,
            outcome = ?outcome,
            "checked a write right"
        );

        let saved = matches!(outcome, ProbeOutcome::Saved { .. });
        reports.push(ProbeReport {
            call: format!("{} {}", probe.method, probe.template),
            purpose: probe.purpose,
            right: Right::for_call(probe.method, probe.template),
            outcome,
        });
        if saved {
            break;
        }
    }

    reports
}

/// Sends one probe and sorts the answer.
async fn send(client: &Client, probe: &Probe) -> ProbeOutcome {
    let answer: Result<Value, Error> = match (probe.body)() {
        ProbeBody::Post(record) => client.post(probe.path, &record).await,
        ProbeBody::Patch(operations) => client.patch(probe.path, &operations).await,
    };

    match answer {
        Ok(record) => ProbeOutcome::Saved {
            id: record.get("id").and_then(Value::as_i64),
        },
        Err(Error::PermissionDenied { request_id, .. }) => ProbeOutcome::Denied { request_id },
        Err(Error::Validation { .. } | Error::NotFound { .. }) => ProbeOutcome::Allowed,
        Err(other) => ProbeOutcome::Unknown {
            reason: other.to_string(),
        },
    }
}

/// Why the connection must not be stored after the probes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteRightsProblem {
    /// A probe was answered with success, so a record may have been stored or changed.
    #[error(
        "ConnectWise answered the rights check {call} with success although its body cannot be \
         saved, so it may have stored or changed {record} ({purpose}); hyalto stopped and stored \
         nothing. Look the record up in ConnectWise, remove or restore it by hand, and report \
         this server's behaviour before configuring again"
    )]
    Saved {
        /// `METHOD /route/template`.
        call: String,
        /// What a sync does with the call.
        purpose: &'static str,
        /// The record, in words.
        record: String,
    },

    /// The role refuses writes a sync needs; one line per refused call.
    #[error(
        "the keys work, but the API member's security role refuses writes a sync needs:\n{}",
        .0.join("\n")
    )]
    Denied(Vec<String>),
}

/// What the user must do about the probes' outcomes: `Err` when the connection must not be
/// stored, `Ok` with warnings to show otherwise.
pub fn verdict(reports: &[ProbeReport]) -> Result<Vec<String>, WriteRightsProblem> {
    // A record stored by a probe comes first: it needs a person before anything else happens.
    if let Some(report) = reports
        .iter()
        .find(|report| matches!(report.outcome, ProbeOutcome::Saved { .. }))
    {
        let ProbeOutcome::Saved { id } = report.outcome else {
            unreachable!("the report was found by its outcome");
        };
        return Err(WriteRightsProblem::Saved {
            call: report.call.clone(),
            purpose: report.purpose,
            record: match id {
                Some(id) => format!("record id {id}"),
                None => "a record whose id the answer did not give".to_owned(),
            },
        });
    }

    let denied: Vec<String> = reports
        .iter()
        .filter_map(|report| match &report.outcome {
            ProbeOutcome::Denied { request_id } => Some(format!(
                "  - {} (to {}){}: {}",
                report.call,
                report.purpose,
                request_id
                    .as_deref()
                    .map(|id| format!(" [request id {id}]"))
                    .unwrap_or_default(),
                report.right
            )),
            _ => None,
        })
        .collect();
    if !denied.is_empty() {
        return Err(WriteRightsProblem::Denied(denied));
    }

    Ok(reports
        .iter()
        .filter_map(|report| match &report.outcome {
            ProbeOutcome::Unknown { reason } => Some(format!(
                "could not check the right for {} (to {}): {reason}; the first sync will tell",
                report.call, report.purpose
            )),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: ProbeOutcome) -> ProbeReport {
        ProbeReport {
            call: "POST /finance/agreements".to_owned(),
            purpose: "create child agreements",
            right: Right::for_call("POST", "/finance/agreements"),
            outcome,
        }
    }

    #[test]
    fn allowed_probes_give_no_warning() {
        let verdict = verdict(&[report(ProbeOutcome::Allowed)]);

        assert_eq!(verdict, Ok(Vec::new()));
    }

    #[test]
    fn a_denied_probe_names_the_call_the_module_and_the_level() {
        let message = verdict(&[
            report(ProbeOutcome::Allowed),
            report(ProbeOutcome::Denied {
                request_id: Some("req-7".to_owned()),
            }),
        ])
        .unwrap_err()
        .to_string();

        assert!(message.contains("POST /finance/agreements"), "{message}");
        assert!(message.contains("Finance module"), "{message}");
        assert!(message.contains("Add level"), "{message}");
        assert!(message.contains("req-7"), "{message}");
    }

    #[test]
    fn a_probe_answered_with_success_names_the_record_before_any_denial() {
        let message = verdict(&[
            report(ProbeOutcome::Denied { request_id: None }),
            report(ProbeOutcome::Saved { id: Some(4711) }),
        ])
        .unwrap_err()
        .to_string();

        assert!(message.contains("record id 4711"), "{message}");
        assert!(message.contains("stored nothing"), "{message}");
    }

    #[test]
    fn an_unclear_answer_is_a_warning_not_a_failure() {
        let warnings = verdict(&[report(ProbeOutcome::Unknown {
            reason: "timed out".to_owned(),
        })])
        .unwrap();

        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("timed out"), "{}", warnings[0]);
    }
}
