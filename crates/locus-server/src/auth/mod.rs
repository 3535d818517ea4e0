//! Authentication: the secrets we hand out, password hashing, the bearer
//! extractor that every authenticated route takes, and brute-force limits.

pub mod access;
pub mod caller;
pub mod limits;
pub mod passwords;
pub mod public;
pub mod secrets;

pub use caller::Caller;

/// Opens a bearer session for `account_id` (from an access token's exchange
/// when `access_token_id` is set) until `expires_at`, and answers the secret
/// that presents it: a bearer for the API, or the web application's cookie.
pub(crate) async fn open_session(
    state: &crate::AppState,
    meta: &crate::extract::RequestMeta,
    account_id: &str,
    access_token_id: Option<&str>,
    expires_at: i64,
) -> crate::error::ApiResult<String> {
    let bearer = secrets::issue(secrets::Kind::Bearer);
    state
        .store
        .create_session(
            &meta.actor(Some(account_id)),
            &locus_store::NewSession {
                id: &bearer.id,
                account_id,
                access_token_id,
                secret_hash: &bearer.hash,
                expires_at,
            },
            locus_store::now_millis(),
        )
        .await?;
    Ok(bearer.token)
}
