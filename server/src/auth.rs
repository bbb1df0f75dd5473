//! Bearer tokens: 32 random bytes, hex, one per device, stored only as SHA-256.

use axum::Json;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use fieldsync_core::model::Identity;
use fieldsync_core::protocol::WhoAmI;
use fieldsync_core::workflow::Role;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::storage::{HashBytes, Principal};
use crate::{AppError, AppState, blocking};

/// A new token: 32 random bytes, hex.
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored of a token.
pub(crate) fn token_hash(token: &str) -> HashBytes {
    Sha256::digest(token.as_bytes()).into()
}

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl Caller {
    /// The caller as a core identity.
    pub fn identity(&self) -> Identity {
        Identity { user_id: self.0.user_id.clone(), device_id: self.0.device_id.clone(), role: self.0.role }
    }

    /// Dispatchers and admins only.
    pub fn require_dispatcher(&self) -> Result<(), AppError> {
        match self.0.role {
            Role::Dispatcher | Role::Admin => Ok(()),
            Role::Engineer | Role::ComplaintHandler => {
                Err(AppError::Forbidden("only dispatchers and admins may use this".into()))
            }
        }
    }

    /// Admins only (the taxonomy, the SLA policy, the escalation rules).
    pub fn require_admin(&self) -> Result<(), AppError> {
        match self.0.role {
            Role::Admin => Ok(()),
            Role::Dispatcher | Role::Engineer | Role::ComplaintHandler => {
                Err(AppError::Forbidden("only admins may change this".into()))
            }
        }
    }
}

/// Whether a caller (`role`, `user`) may manage the account of `target_user`, whose role is
/// `target_role`: revoke its devices, or anything else done to a user rather than a ticket.
/// Pure. (Issue 13, attack 9: a dispatcher revoked an admin's device.)
///
/// Authority only goes down: admins manage everyone; a dispatcher manages engineers and
/// itself (revoking its own lost phone), not another dispatcher and not an admin, so one
/// dispatcher's stolen session cannot lock out the people who would stop it; engineers manage
/// nobody (their devices are managed for them).
pub(crate) fn may_manage(role: Role, user: &str, target_role: Role, target_user: &str) -> Result<(), AppError> {
    let allowed = match role {
        Role::Admin => true,
        Role::Dispatcher => target_role == Role::Engineer || target_user == user,
        Role::Engineer | Role::ComplaintHandler => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "a {} may not manage the account of {} {target_user}",
            role.as_str(),
            article(target_role)
        )))
    }
}

fn article(role: Role) -> String {
    match role {
        Role::Admin | Role::Engineer => format!("an {}", role.as_str()),
        Role::Dispatcher => format!("a {}", role.as_str()),
        Role::ComplaintHandler => "a complaint handler".to_owned(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let hash = bearer_hash(&parts.headers)?;
        let state = state.clone();
        blocking(move || authenticate(&state, &hash)).await
    }
}

/// The hash of the bearer token in `headers`; [`AppError::Unauthorized`] without a well-formed
/// one. Reads no storage: a request without a token is refused before any work.
pub(crate) fn bearer_hash(headers: &axum::http::HeaderMap) -> Result<HashBytes, AppError> {
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or(AppError::Unauthorized)?;
    let value = header.to_str().map_err(|_| AppError::Unauthorized)?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
        .ok_or(AppError::Unauthorized)?;
    Ok(token_hash(token))
}

/// The caller whose token hashes to `hash`: [`AppError::Unauthorized`] for an unknown or revoked
/// one. Blocking.
pub(crate) fn authenticate(state: &AppState, hash: &HashBytes) -> Result<Caller, AppError> {
    state.storage().authenticate(hash)?.map(Caller).ok_or(AppError::Unauthorized)
}

/// `GET /v1/me`.
pub(crate) async fn me(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI { user_id: caller.0.user_id, device_id: caller.0.device_id, role: caller.0.role })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_only_goes_down() {
        use Role::{Admin, Dispatcher, Engineer};
        // (caller role, caller, target role, target, allowed)
        for (role, user, target_role, target, allowed) in [
            (Admin, "ada", Admin, "ada", true),
            (Admin, "ada", Admin, "abe", true),
            (Admin, "ada", Dispatcher, "dana", true),
            (Admin, "ada", Engineer, "eli", true),
            (Dispatcher, "dana", Engineer, "eli", true),
            (Dispatcher, "dana", Dispatcher, "dana", true),
            (Dispatcher, "dana", Dispatcher, "dora", false),
            (Dispatcher, "dana", Admin, "ada", false),
            (Engineer, "eli", Engineer, "eli", false),
            (Engineer, "eli", Engineer, "fay", false),
            (Engineer, "eli", Admin, "ada", false),
        ] {
            let decided = may_manage(role, user, target_role, target);
            assert_eq!(decided.is_ok(), allowed, "{role:?} {user} -> {target_role:?} {target}: {decided:?}");
            if let Err(refused) = decided {
                assert!(matches!(refused, AppError::Forbidden(_)), "{refused:?}");
            }
        }
        let refused = may_manage(Role::Dispatcher, "dana", Role::Admin, "ada").expect_err("refused");
        assert_eq!(refused.to_string(), "a dispatcher may not manage the account of an admin ada");
    }
}
