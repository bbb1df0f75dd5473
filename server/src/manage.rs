//! The service manager's settings on storage, and their REST API (docs/adr/0014): the taxonomy
//! (`/v1/taxonomy`), the SLA policy (`/v1/sla-policy`, with its change log) and the escalation
//! rules (`/v1/escalation-rules`), read by dispatchers and written by admins; the escalations
//! raised (`/v1/escalations`). What a setting may hold is decided by `crate::sla`; this module
//! only loads, checks through it, and stores.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use fieldsync_core::model::NewTicket;
use fieldsync_core::time::Millis;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::json_body;
use crate::routing::{Facts, Routing, Target};
use crate::sla::Policy;
use crate::sla::escalation::Rules;
use crate::sla::taxonomy::Taxonomy;
use crate::storage::manager::{EscalationRecord, SettingRecord};
use crate::{AppError, AppState, Caller, blocking};

/// The setting names in storage.
pub const TAXONOMY: &str = "taxonomy";
/// See [`TAXONOMY`].
pub const SLA_POLICY: &str = "sla_policy";
/// See [`TAXONOMY`].
pub const ESCALATION_RULES: &str = "escalation_rules";
/// The skill groups and routing rules' setting name (docs/adr/0023).
pub const ROUTING: &str = "routing";

/// A setting with its version, as read.
#[derive(Clone, Debug, Serialize)]
pub struct Versioned<T> {
    /// The setting.
    #[serde(flatten)]
    pub value: T,
    /// 0 while it is the built-in default.
    pub version: i64,
    /// When it was last written, if ever.
    pub updated_at: Option<Millis>,
    /// Who last wrote it, if anyone.
    pub updated_by: Option<String>,
}

fn load<T: DeserializeOwned + Default>(state: &AppState, name: &str) -> Result<Versioned<T>, AppError> {
    match state.storage().setting(name)? {
        None => Ok(Versioned { value: T::default(), version: 0, updated_at: None, updated_by: None }),
        Some(SettingRecord { json, version, updated_at, updated_by, .. }) => {
            let value = serde_json::from_str(&json)
                .map_err(|e| AppError::Internal(format!("stored setting {name} does not read: {e}")))?;
            Ok(Versioned { value, version, updated_at: Some(updated_at), updated_by: Some(updated_by) })
        }
    }
}

fn save<T: Serialize>(state: &AppState, caller: &Caller, name: &str, value: &T) -> Result<i64, AppError> {
    caller.require_admin()?;
    let json = serde_json::to_string(value).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(state.storage().put_setting(name, &json, &caller.0.user_id, state.now())?)
}

/// [`save`] for the routing setting: its skill groups decide who may hold and claim a group's
/// pooled tickets, so the same write gives every pooled ticket a new change sequence number and
/// each engineer's next sync reconsiders them, as it does any changed ticket (docs/adr/0028).
/// Every routing write does, not only one that changes members: routing writes are rare, and a
/// comparison with the setting it replaces would race another admin's write.
fn save_routing(state: &AppState, caller: &Caller, routing: &Routing) -> Result<i64, AppError> {
    caller.require_admin()?;
    let json = serde_json::to_string(routing).map_err(|e| AppError::Internal(e.to_string()))?;
    Ok(state.storage().put_setting_resequencing_pool(ROUTING, &json, &caller.0.user_id, state.now())?)
}

/// The taxonomy in force. Blocking.
pub fn taxonomy(state: &AppState) -> Result<Versioned<Taxonomy>, AppError> {
    load(state, TAXONOMY)
}

/// The SLA policy in force. Blocking.
pub fn sla_policy(state: &AppState) -> Result<Versioned<Policy>, AppError> {
    load(state, SLA_POLICY)
}

/// The escalation rules in force. Blocking.
pub fn escalation_rules(state: &AppState) -> Result<Versioned<Rules>, AppError> {
    load(state, ESCALATION_RULES)
}

/// The skill groups and routing rules in force. Blocking.
pub fn routing(state: &AppState) -> Result<Versioned<Routing>, AppError> {
    load(state, ROUTING)
}

/// Replaces the skill groups and routing rules (admins); every member must be an engineer.
/// Blocking.
pub fn set_routing(state: &AppState, caller: &Caller, routing: &Routing) -> Result<i64, AppError> {
    routing.validate().map_err(|e| AppError::BadRequest(e.0))?;
    for group in &routing.groups {
        for engineer in &group.engineers {
            match state.storage().user(engineer)? {
                Some(user) if user.role == fieldsync_core::workflow::Role::Engineer => {}
                _ => return Err(AppError::BadRequest(format!("group {}: {engineer:?} is no engineer", group.id))),
            }
        }
    }
    for (n, rule) in routing.rules.iter().enumerate().filter(|(_, r)| !r.engineer.is_empty()) {
        match state.storage().user(&rule.engineer)? {
            Some(user) if user.role == fieldsync_core::workflow::Role::Engineer => {}
            _ => return Err(AppError::BadRequest(format!("rule {}: {:?} is no engineer", n + 1, rule.engineer))),
        }
    }
    save_routing(state, caller, routing)
}

/// Replaces the taxonomy (admins). Blocking.
pub fn set_taxonomy(state: &AppState, caller: &Caller, taxonomy: &Taxonomy) -> Result<i64, AppError> {
    taxonomy.validate().map_err(|e| AppError::BadRequest(e.0))?;
    save(state, caller, TAXONOMY, taxonomy)
}

/// Replaces the SLA policy (admins); it applies to tickets created from now on, and the write is
/// logged. Blocking.
pub fn set_sla_policy(state: &AppState, caller: &Caller, policy: &Policy) -> Result<i64, AppError> {
    policy.validate().map_err(|e| AppError::BadRequest(e.0))?;
    save(state, caller, SLA_POLICY, policy)
}

/// Replaces the escalation rules (admins). Blocking.
pub fn set_escalation_rules(state: &AppState, caller: &Caller, rules: &Rules) -> Result<i64, AppError> {
    rules.validate().map_err(|e| AppError::BadRequest(e.0))?;
    for (rule, user) in rules.rules.iter().filter_map(|r| r.assign_to.as_ref().map(|u| (r, u))) {
        if state.storage().user(user)?.is_none() {
            return Err(AppError::BadRequest(format!("rule {}: no user {user:?} to assign to", rule.id)));
        }
    }
    save(state, caller, ESCALATION_RULES, rules)
}

/// A new ticket as [`prepare_new_ticket`] leaves it.
#[derive(Clone, Debug)]
pub struct PreparedTicket {
    /// The ticket to create.
    pub ticket: NewTicket,
    /// The skill group whose pool a routing rule put it in (it then names no engineer).
    pub pool_group: Option<String>,
}

/// What every new ticket goes through, however it is made (REST API, console, CLI): its
/// classification checked against the taxonomy, the deadlines it was not given filled from
/// the SLA policy for its priority, tier and type, and, when it names no engineer, the routing
/// rules' pick (an engineer, or a skill group's pool; docs/adr/0028). Blocking.
///
/// A ticket for a customer record (`customer.id`) takes the record's snapshot and tier (so the
/// policy's rules for that tier apply) and carries the customer card (docs/adr/0018); an id
/// that names no record here is refused. A card in `new` is never kept: only this fills it.
pub fn prepare_new_ticket(state: &AppState, new: &NewTicket, at: Millis) -> Result<PreparedTicket, AppError> {
    taxonomy(state)?.value.check(&new.classification).map_err(|e| AppError::BadRequest(e.0))?;
    let (customer, customer_card) = match crate::customers::service::for_new_ticket(state, &new.customer, at)? {
        Some((customer, card)) => (customer, Some(card)),
        None => (new.customer.clone(), None),
    };
    let policy = sla_policy(state)?.value;
    let (tier, ticket_type) = (&customer.tier, &new.classification.ticket_type);
    let sla = policy.apply(new.sla, new.priority, tier, ticket_type, at);
    // The revisit target travels with the ticket like its deadlines: a policy change applies
    // to new tickets only (docs/adr/0019).
    let revisit_after = new.revisit_after.or(policy.targets(new.priority, tier, ticket_type).revisit);
    // A ticket that names no engineer goes to the one a routing rule picks, if one matches
    // (the index rows are read only then).
    let mut assignee = new.assignee.clone().filter(|a| !a.trim().is_empty());
    let mut pool_group = None;
    if assignee.is_none() {
        let routing = routing(state)?.value;
        let facts = Facts { classification: &new.classification, priority: new.priority, tier };
        if routing.rule_for(&facts).is_some() {
            let rows = state.storage().list_tickets(&crate::storage::TicketFilter::default())?;
            match crate::routing::route(&routing, &facts, &rows).map(|d| d.target) {
                Some(Target::Engineer(engineer)) => assignee = Some(engineer),
                Some(Target::Pool { group }) => pool_group = Some(group),
                None => {}
            }
        }
    }
    let ticket = NewTicket { sla, customer, customer_card, revisit_after, assignee, ..new.clone() };
    Ok(PreparedTicket { ticket, pool_group })
}

/// `{ "version": n }`
#[derive(Serialize)]
pub(crate) struct Written {
    version: i64,
}

/// `GET /v1/routing`: skill groups and routing rules.
pub(crate) async fn get_routing(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Versioned<Routing>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || routing(&state)).await?))
}

/// `PUT /v1/routing` (admins).
pub(crate) async fn put_routing(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Routing>, JsonRejection>,
) -> Result<Json<Written>, AppError> {
    let value = json_body(body)?;
    let version = blocking(move || set_routing(&state, &caller, &value)).await?;
    Ok(Json(Written { version }))
}

/// `GET /v1/taxonomy`.
pub(crate) async fn get_taxonomy(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Versioned<Taxonomy>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || taxonomy(&state)).await?))
}

/// `PUT /v1/taxonomy`.
pub(crate) async fn put_taxonomy(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Taxonomy>, JsonRejection>,
) -> Result<Json<Written>, AppError> {
    let value = json_body(body)?;
    let version = blocking(move || set_taxonomy(&state, &caller, &value)).await?;
    Ok(Json(Written { version }))
}

/// `GET /v1/sla-policy`.
pub(crate) async fn get_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Versioned<Policy>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || sla_policy(&state)).await?))
}

/// `PUT /v1/sla-policy`.
pub(crate) async fn put_sla_policy(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Policy>, JsonRejection>,
) -> Result<Json<Written>, AppError> {
    let value = json_body(body)?;
    let version = blocking(move || set_sla_policy(&state, &caller, &value)).await?;
    Ok(Json(Written { version }))
}

/// One logged write of the SLA policy.
#[derive(Serialize)]
pub(crate) struct PolicyChange {
    version: i64,
    at: Millis,
    by: String,
    policy: serde_json::Value,
}

/// The logged writes of the SLA policy, newest first. Blocking.
pub(crate) fn policy_changes(state: &AppState, limit: usize) -> Result<Vec<PolicyChange>, AppError> {
    Ok(state
        .storage()
        .setting_changes(SLA_POLICY, limit)?
        .into_iter()
        .map(|c| PolicyChange {
            version: c.version,
            at: c.updated_at,
            by: c.updated_by,
            policy: serde_json::from_str(&c.json).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

/// The logged writes of the SLA policy as stored, newest first. Blocking.
pub fn policy_change_log(state: &AppState, limit: usize) -> Result<Vec<SettingRecord>, AppError> {
    Ok(state.storage().setting_changes(SLA_POLICY, limit)?)
}

/// `GET /v1/sla-policy/changes`.
pub(crate) async fn get_policy_changes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PolicyChange>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || policy_changes(&state, 200)).await?))
}

/// `GET /v1/escalation-rules`.
pub(crate) async fn get_escalation_rules(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Versioned<Rules>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || escalation_rules(&state)).await?))
}

/// `PUT /v1/escalation-rules`.
pub(crate) async fn put_escalation_rules(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<Rules>, JsonRejection>,
) -> Result<Json<Written>, AppError> {
    let value = json_body(body)?;
    let version = blocking(move || set_escalation_rules(&state, &caller, &value)).await?;
    Ok(Json(Written { version }))
}

/// `GET /v1/escalations`: the most recent escalations, newest first.
pub(crate) async fn get_escalations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<EscalationRecord>>, AppError> {
    caller.require_dispatcher()?;
    Ok(Json(blocking(move || Ok(state.storage().escalations(200)?)).await?))
}
