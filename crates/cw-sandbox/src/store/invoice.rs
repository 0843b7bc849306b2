//! A preview of a master agreement's next invoice, following the simplified billing model of
//! reference §9.7. ConnectWise does not publish its invoicing rules, so the result is labelled
//! as an approximation in its own JSON.
//!
//! The model: a billing period is a calendar month, quarter, half-year or year (from the
//! agreement's billing cycle). An agreement counts when it runs during the period; an addition
//! counts when `effectiveDate <= periodEnd` and it is not cancelled before `periodStart`. A
//! line is `(quantity - lessIncluded) x unitPrice`, scaled by days active / days in the period
//! when the agreement has `prorateFlag` and the addition starts or ends inside the period. The
//! total is the master's `billAmount` and lines plus each child's `billAmount` and lines.

use chrono::{Datelike, Months, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use super::StoreError;
use super::collection::{Collection, Records, reference_id};
use super::validate::{decimal_value, parse_date, parse_decimal};
use crate::error_body::ErrorBody;

/// What the preview says about itself, so nobody mistakes it for a ConnectWise invoice.
const NOTE: &str = "Approximation computed by the hyalto sandbox (simplified model of the \
    ConnectWise reference, section 9.7); real ConnectWise invoicing may differ in proration, \
    rounding, taxes and period alignment.";

/// A billing period: first and last day, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Period {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl Period {
    /// The calendar-aligned period of `months` months that contains `day`.
    pub fn containing(day: NaiveDate, months: u32) -> Period {
        let first_month = day.month0() / months * months;
        let start = NaiveDate::from_ymd_opt(day.year(), first_month + 1, 1).unwrap_or(day);
        let end = start
            .checked_add_months(Months::new(months))
            .and_then(|next| next.pred_opt())
            .unwrap_or(start);
        Period { start, end }
    }

    fn days(self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

/// The invoice preview of the master agreement `agreement_id` for the period containing
/// `period_start` (default: the first day of the month after `today`).
pub(crate) fn preview(
    records: &Records,
    agreement_id: i64,
    period_start: Option<NaiveDate>,
    today: NaiveDate,
) -> Result<Value, StoreError> {
    let master =
        records
            .body(Collection::Agreements, agreement_id)
            .ok_or(StoreError::NotFound {
                resource: Collection::Agreements.resource_name(),
                id: agreement_id,
            })?;
    if let Some(parent) = reference_id(master.get("parentAgreement")) {
        return Err(StoreError::Invalid(ErrorBody::new(
            "InvalidRequest",
            format!(
                "agreement {agreement_id} is a child of agreement {parent}; its lines appear on \
                 the invoice of master agreement {parent}, so preview that one"
            ),
        )));
    }

    // The billing cycle decides the period length; cycles that are not a whole number of
    // months fall back to monthly, and the preview says so.
    let cycle = reference_id(master.get("billingCycle"))
        .and_then(|id| records.body(Collection::BillingCycles, id));
    let options = cycle
        .and_then(|cycle| cycle.get("billingOptions"))
        .and_then(Value::as_str)
        .unwrap_or("Monthly");
    let (months, cycle_note) = match options {
        "Monthly" => (1, None),
        "Quarterly" => (3, None),
        "SemiAnnual" => (6, None),
        "Yearly" => (12, None),
        other => (
            1,
            Some(format!(
                "billing option {other} is previewed as a monthly period"
            )),
        ),
    };
    let first_of_next_month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1)
        .and_then(|first| first.checked_add_months(Months::new(1)))
        .unwrap_or(today);
    let period = Period::containing(period_start.unwrap_or(first_of_next_month), months);

    // The master first, then its children in id order, as the invoice lists them.
    let mut agreements = vec![(agreement_id, master, "Parent")];
    agreements.extend(
        records
            .children_of(agreement_id)
            .filter_map(|id| Some((id, records.body(Collection::Agreements, id)?)))
            .map(|(id, body)| (id, body, "Child")),
    );

    let mut sections = Vec::new();
    let mut bill_amounts = Decimal::ZERO;
    let mut additions_total = Decimal::ZERO;
    for (id, body, level) in agreements {
        let section = agreement_section(records, id, body, level, period);
        bill_amounts += section.bill_amount;
        additions_total += section.additions_amount;
        sections.push(section.json);
    }

    let mut result = json!({
        "approximation": true,
        "note": NOTE,
        "agreementId": agreement_id,
        "agreementName": master.get("name").cloned().unwrap_or(Value::Null),
        "company": master.get("company").cloned().unwrap_or(Value::Null),
        "billingCycle": cycle.and_then(|cycle| cycle.get("name")).cloned().unwrap_or(Value::Null),
        "billingOptions": options,
        "periodStart": period.start.to_string(),
        "periodEnd": period.end.to_string(),
        "daysInPeriod": period.days(),
        "agreements": sections,
        "totals": {
            "billAmounts": decimal_value(bill_amounts),
            "additions": decimal_value(additions_total),
            "total": decimal_value(bill_amounts + additions_total),
        },
    });
    if let (Some(note), Some(object)) = (cycle_note, result.as_object_mut()) {
        object.insert("billingCycleNote".to_owned(), Value::from(note));
    }
    Ok(result)
}

struct Section {
    json: Value,
    bill_amount: Decimal,
    additions_amount: Decimal,
}

/// One agreement's part of the invoice: its recurring amount and its addition lines.
fn agreement_section(
    records: &Records,
    id: i64,
    body: &Map<String, Value>,
    level: &str,
    period: Period,
) -> Section {
    let date = |key: &str| body.get(key).and_then(Value::as_str).and_then(parse_date);
    let active = date("startDate").is_none_or(|start| start <= period.end)
        && date("endDate").is_none_or(|end| end >= period.start)
        && date("dateCancelled").is_none_or(|cancelled| cancelled >= period.start);
    let prorate = body.get("prorateFlag") == Some(&Value::Bool(true));

    let mut additions: Vec<&Map<String, Value>> = records
        .additions_of(id)
        .filter_map(|addition| records.body(Collection::Additions, addition))
        .collect();
    // Invoices order lines by sequence number; additions without one come last, by id.
    additions.sort_by_key(|addition| {
        addition
            .get("sequenceNumber")
            .and_then(parse_decimal)
            .unwrap_or(Decimal::MAX)
    });

    let mut lines = Vec::new();
    let mut additions_amount = Decimal::ZERO;
    if active {
        for addition in additions {
            if let Some((line, amount)) = line(addition, id, prorate, period) {
                additions_amount += amount;
                lines.push(line);
            }
        }
    }
    let bill_amount = if active {
        money(
            body.get("billAmount")
                .and_then(parse_decimal)
                .unwrap_or_default(),
        )
    } else {
        Decimal::ZERO
    };

    let json = json!({
        "agreementId": id,
        "name": body.get("name").cloned().unwrap_or(Value::Null),
        "level": level,
        "activeInPeriod": active,
        "prorateFlag": prorate,
        "billAmount": decimal_value(bill_amount),
        "lines": lines,
        "additionsAmount": decimal_value(additions_amount),
        "total": decimal_value(bill_amount + additions_amount),
    });
    Section {
        json,
        bill_amount,
        additions_amount,
    }
}

/// One addition's invoice line and amount, or `None` when it is not active in the period.
fn line(
    addition: &Map<String, Value>,
    agreement_id: i64,
    prorate: bool,
    period: Period,
) -> Option<(Value, Decimal)> {
    let date = |key: &str| {
        addition
            .get(key)
            .and_then(Value::as_str)
            .and_then(parse_date)
    };
    let number = |key: &str| {
        addition
            .get(key)
            .and_then(parse_decimal)
            .unwrap_or_default()
    };

    let effective = date("effectiveDate");
    let cancelled = date("cancelledDate");
    if effective.is_some_and(|effective| effective > period.end)
        || cancelled.is_some_and(|cancelled| cancelled < period.start)
    {
        return None;
    }

    let first_day = effective.map_or(period.start, |effective| effective.max(period.start));
    let last_day = cancelled.map_or(period.end, |cancelled| cancelled.min(period.end));
    let days_active = (last_day - first_day).num_days() + 1;
    let partial = first_day > period.start || last_day < period.end;
    let prorated = prorate && partial;

    let billed_quantity = number("quantity") - number("lessIncluded");
    let unit_price = number("unitPrice");
    let full = billed_quantity * unit_price;
    let billable = addition.get("billCustomer").and_then(Value::as_str) == Some("Billable");
    let amount = match (billable, prorated) {
        (false, _) => Decimal::ZERO,
        (true, false) => money(full),
        (true, true) => money(full * Decimal::from(days_active) / Decimal::from(period.days())),
    };
    let fraction = if prorated {
        (Decimal::from(days_active) / Decimal::from(period.days())).round_dp(6)
    } else {
        Decimal::ONE
    };

    let description = addition
        .get("invoiceDescription")
        .or_else(|| addition.get("description"))
        .cloned()
        .unwrap_or(Value::Null);
    let line = json!({
        "agreementId": agreement_id,
        "additionId": addition.get("id").cloned().unwrap_or(Value::Null),
        "product": addition
            .get("product")
            .and_then(|product| product.get("identifier"))
            .cloned()
            .unwrap_or(Value::Null),
        "description": description,
        "billCustomer": addition.get("billCustomer").cloned().unwrap_or(Value::Null),
        "quantity": decimal_value(number("quantity")),
        "lessIncluded": decimal_value(number("lessIncluded")),
        "billedQuantity": decimal_value(billed_quantity),
        "unitPrice": decimal_value(unit_price),
        "daysActive": days_active,
        "prorated": prorated,
        "fraction": decimal_value(fraction),
        "amount": decimal_value(amount),
    });
    Some((line, amount))
}

/// Rounds to cents, halves away from zero.
fn money(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}
