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
            Role::Engineer => Err(AppError::Forbidden("only dispatchers and admins may use this".into())),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or(AppError::Unauthorized)?;
        let value = header.to_str().map_err(|_| AppError::Unauthorized)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(AppError::Unauthorized)?;
        let hash = token_hash(token);
        let state = state.clone();
        let principal = blocking(move || Ok(state.storage().authenticate(&hash)?)).await?;
        principal.map(Caller).ok_or(AppError::Unauthorized)
    }
}

/// `GET /v1/me`.
pub(crate) async fn me(caller: Caller) -> Json<WhoAmI> {
    Json(WhoAmI { user_id: caller.0.user_id, device_id: caller.0.device_id, role: caller.0.role })
}
