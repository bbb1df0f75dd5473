//! Whom a token belongs to, and whether it may sync this store (issue 13, "Identity").
//!
//! A store belongs to one user on one device (`Client::open` records both). A token of anyone
//! else would push this store's changes as another device's (the server refuses them and, worse,
//! the device used to forget them) and pull another user's tickets into this store. So before
//! its first request with a token, the engine asks `GET /v1/me` whom the token belongs to, once
//! per engine (a token never changes owner), and refuses a stranger's token with
//! [`SyncError::ForeignToken`] before anything of the store is sent or changed.

use crate::model::Identity;
use crate::protocol::WhoAmI;

use super::transport::{HttpRequest, HttpResponse, HttpTransport, Method};
use super::{SyncError, server_error};

/// Asks the server who a token belongs to (`GET /v1/me`): how a device learns its identity
/// the first time it signs in. Over the built-in client (feature `reqwest-transport`).
#[cfg(feature = "reqwest-transport")]
pub async fn who_am_i(server_url: &str, token: &str) -> Result<WhoAmI, SyncError> {
    let transport = super::ReqwestTransport::new(std::time::Duration::from_secs(30))?;
    who_am_i_with(&transport, server_url, token).await
}

/// [`who_am_i`] through `transport` (an app's own HTTP client).
pub async fn who_am_i_with(transport: &dyn HttpTransport, server_url: &str, token: &str) -> Result<WhoAmI, SyncError> {
    let response = transport.send(request(server_url, token)).await?;
    if !response.is_success() {
        return Err(server_error(response.status, &response.body));
    }
    read(&response)
}

/// The `GET /v1/me` request.
pub(super) fn request(server_url: &str, token: &str) -> HttpRequest {
    HttpRequest::new(Method::Get, format!("{}/v1/me", server_url.trim_end_matches('/')))
        .header("Authorization", format!("Bearer {token}"))
}

/// The answer to [`request`], successful.
pub(super) fn read(response: &HttpResponse) -> Result<WhoAmI, SyncError> {
    serde_json::from_slice(&response.body).map_err(|e| SyncError::Protocol(e.to_string()))
}

/// Whether the token's owner (`token`) is the store's (`store`): the same user and the same
/// device. The role is not compared: it is the server's to change, and the server judges
/// every push by the role it knows.
pub(super) fn check_owner(store: &Identity, token: &WhoAmI) -> Result<(), SyncError> {
    if token.user_id == store.user_id && token.device_id == store.device_id {
        return Ok(());
    }
    Err(SyncError::ForeignToken {
        token_user: token.user_id.clone(),
        token_device: token.device_id.clone(),
        store_user: store.user_id.clone(),
        store_device: store.device_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::Role;

    fn store() -> Identity {
        Identity { user_id: "eli".into(), device_id: "eli-phone".into(), role: Role::Engineer }
    }

    fn token(user: &str, device: &str, role: Role) -> WhoAmI {
        WhoAmI { user_id: user.into(), device_id: device.into(), role }
    }

    #[test]
    fn the_stores_own_token_may_sync() {
        assert_eq!(check_owner(&store(), &token("eli", "eli-phone", Role::Engineer)), Ok(()));
    }

    #[test]
    fn a_role_changed_on_the_server_does_not_lock_the_store_out() {
        assert_eq!(check_owner(&store(), &token("eli", "eli-phone", Role::Dispatcher)), Ok(()));
    }

    #[test]
    fn another_users_token_is_refused_and_named() {
        let err = check_owner(&store(), &token("dana", "dana-desk", Role::Dispatcher)).expect_err("refused");
        assert!(!err.is_transient(), "retrying soon cannot fix it");
        let message = err.to_string();
        assert!(
            message.contains("dana") && message.contains("eli") && message.contains("nothing was sent"),
            "{message}"
        );
    }

    #[test]
    fn the_same_users_other_device_is_refused() {
        let err = check_owner(&store(), &token("eli", "eli-tablet", Role::Engineer)).expect_err("refused");
        assert!(matches!(err, SyncError::ForeignToken { ref token_device, .. } if token_device == "eli-tablet"));
    }
}
