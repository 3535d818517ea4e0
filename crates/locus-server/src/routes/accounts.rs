//! Accounts (api-contract.md §2): sign-up, the caller's own account, other
//! accounts in restricted form, preferences, password change, deletion.

use crate::auth::{limits, passwords, Caller};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ClientAddr, Json, Path, Query, RequestMeta};
use crate::routes::email_verification;
use crate::wire::Link;
use crate::{AppState, SignupMode};
use axum::extract::State;
use axum::http::StatusCode;
use locus_core::{password::check_policy, AccountId, Email, PersonName};
use locus_store::{Account, NewAccount};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up, find_by_email))
        .routes(routes!(current))
        .routes(routes!(get_account, delete_account))
        .routes(routes!(update_preferences))
        .routes(routes!(update_onboarding))
        .routes(routes!(change_password))
        .routes(routes!(set_anonymous))
}

/// Whether an account may share projects publicly (Locus addition, issue 7).
#[derive(Debug, Deserialize, ToSchema)]
pub struct AnonymousDto {
    anonymous: bool,
}

/// Marks an account as anonymous-capable, or not: platform operators only.
#[utoipa::path(put, path = "/rest/accounts/{accountId}/anonymous", tag = "accounts", params(("accountId" = String, Path)),
    request_body = AnonymousDto, responses((status = 200, body = AccountDto)))]
async fn set_anonymous(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    Json(body): Json<AnonymousDto>,
) -> ApiResult<axum::Json<AccountDto>> {
    if !caller.account.operator {
        return Err(ApiError::forbidden(
            "only a platform operator may change whether an account shares projects publicly",
        ));
    }
    AccountId::parse("accountId", &account_id)?;
    state
        .store
        .set_anonymous(&caller.actor, &account_id, body.anonymous)
        .await
        .map_err(|e| match e {
            locus_store::StoreError::NotFound => ApiError::NotFound("account"),
            other => other.into(),
        })?;
    tracing::info!(account_id = %account_id, anonymous = body.anonymous, by = %caller.account.id, "anonymous flag changed");
    let account = state.store.account(&account_id).await?.ok_or(ApiError::NotFound("account"))?;
    Ok(axum::Json(AccountDto::from(&account)))
}

/// The full account, shown to its owner.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountDto {
    pub id: String,
    pub full_name: String,
    pub email: String,
    pub consent_granted: bool,
    #[schema(example = "ENABLED")]
    pub status: &'static str,
    pub anonymous: bool,
    /// Whether the owner proved the e-mail (a Locus addition): only such
    /// accounts are found by e-mail.
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[schema(value_type = Object)]
    pub preferences: Value,
    #[schema(value_type = Object)]
    pub onboarding: Value,
    pub links: Vec<Link>,
}

impl From<&Account> for AccountDto {
    fn from(a: &Account) -> Self {
        AccountDto {
            id: a.id.clone(),
            full_name: a.full_name(),
            email: a.email.clone(),
            consent_granted: a.consent_granted,
            status: a.status.as_str(),
            anonymous: a.anonymous,
            email_verified: a.email_verified(),
            phone_number: a.phone_number.clone(),
            preferences: a.preferences.clone(),
            onboarding: a.onboarding.clone(),
            links: Link::this(format!("/rest/accounts/{}", a.id)),
        }
    }
}

/// What another user sees of an account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RestrictedAccountDto {
    pub id: String,
    pub full_name: String,
    pub email: String,
    pub status: &'static str,
}

/// Sign-up body (NewAccountDTO). Unknown keys are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewAccountDto {
    pub given_name: String,
    pub surname: String,
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub consent_granted: Option<bool>,
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<Value>,
}

/// Checks a phone number: 6 to 20 characters.
fn phone(field: &'static str, s: Option<String>) -> ApiResult<Option<String>> {
    match s {
        Some(p) if !(6..=20).contains(&p.chars().count()) => Err(ApiError::bad_request(field, "must be 6 to 20 characters")),
        other => Ok(other),
    }
}

/// Sign up. Answers 409 when the e-mail is taken, 403 when sign-up is closed.
#[utoipa::path(post, path = "/rest/accounts", tag = "accounts", security(()), request_body = NewAccountDto,
    responses((status = 200, body = AccountDto)))]
async fn sign_up(
    State(state): State<AppState>,
    meta: RequestMeta,
    ClientAddr(client): ClientAddr,
    Json(body): Json<NewAccountDto>,
) -> ApiResult<axum::Json<AccountDto>> {
    if state.settings.signup == SignupMode::Closed {
        return Err(ApiError::forbidden(
            "sign-up is closed on this server; ask an operator for an account",
        ));
    }
    let account = register(&state, &meta, &client, body).await?;
    email_verification::send_link(&state, &meta, &account).await?;
    Ok(axum::Json(AccountDto::from(&account)))
}

/// Checks every field of a sign-up from the client address `client` and
/// creates the account, its e-mail not verified yet; shared by the API and
/// the sign-up page. Whether sign-up is open, and how the e-mail gets
/// verified (a mailed link, or the invitation the visitor came with), are
/// the caller's questions.
pub(crate) async fn register(state: &AppState, meta: &RequestMeta, client: &str, body: NewAccountDto) -> ApiResult<Account> {
    let given_name = PersonName::parse("givenName", &body.given_name)?;
    let surname = PersonName::parse("surname", &body.surname)?;
    let email = Email::parse("email", &body.email)?;
    check_policy("password", &body.password)?;
    let preferences = merge_preferences(Map::new(), body.preferences.unwrap_or(Value::Null))?;
    // Every sign-up costs an argon2 hash: counted per client address first.
    let signups = [(state.settings.limits.signup_address(), client)];
    limits::count_attempt(&state.store, &signups).await?;
    let new = NewAccount {
        email: email.as_str().to_owned(),
        given_name: given_name.as_str().to_owned(),
        surname: surname.as_str().to_owned(),
        phone_number: phone("phoneNumber", body.phone_number)?,
        consent_granted: body.consent_granted.unwrap_or(false),
        password_hash: passwords::hash(body.password).await?,
        operator: false,
        preferences: Value::Object(preferences),
        email_verified: false,
    };
    let account = state.store.create_account(&meta.actor(None), &new).await?;
    tracing::info!(account_id = %account.id, "account registered");
    Ok(account)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct EmailQuery {
    /// The e-mail to look for.
    email: String,
}

/// Whether an ENABLED account has this e-mail, verified by its owner: 204
/// yes, 404 no. For authenticated callers only, and rate-limited per caller.
#[utoipa::path(get, path = "/rest/accounts", tag = "accounts", params(EmailQuery),
    responses((status = 204, description = "an enabled account has this e-mail")))]
async fn find_by_email(State(state): State<AppState>, caller: Caller, Query(q): Query<EmailQuery>) -> ApiResult<StatusCode> {
    let email = Email::parse("email", &q.email)?;
    let now = locus_store::now_millis();
    limits::too_many(
        state
            .store
            .throttle_hit(&state.settings.limits.lookups(), &caller.account.id, now)
            .await?,
    )?;
    match state.store.account_by_email(&email.normalized()).await? {
        Some(a) if a.is_active() && a.email_verified() => Ok(StatusCode::NO_CONTENT),
        _ => Err(ApiError::NotFound("account")),
    }
}

/// The caller's own account.
#[utoipa::path(get, path = "/rest/accounts/current", tag = "accounts", responses((status = 200, body = AccountDto)))]
async fn current(caller: Caller) -> axum::Json<AccountDto> {
    axum::Json(AccountDto::from(&caller.account))
}

/// An account: in full for its owner, restricted for someone who shares an
/// organization with it; 404 for anyone else.
#[utoipa::path(get, path = "/rest/accounts/{accountId}", tag = "accounts", params(("accountId" = String, Path)),
    responses((status = 200, body = AccountDto)))]
async fn get_account(State(state): State<AppState>, caller: Caller, Path(account_id): Path<String>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    AccountId::parse("accountId", &account_id)?;
    if account_id == caller.account.id {
        return Ok(axum::Json(AccountDto::from(&caller.account)).into_response());
    }
    let other = state.store.account(&account_id).await?.ok_or(ApiError::NotFound("account"))?;
    if !state.store.accounts_share_scope(&caller.account.id, &other.id).await? {
        return Err(ApiError::NotFound("account"));
    }
    Ok(axum::Json(RestrictedAccountDto {
        id: other.id.clone(),
        full_name: other.full_name(),
        email: other.email.clone(),
        status: other.status.as_str(),
    })
    .into_response())
}

fn ensure_self(caller: &Caller, account_id: &str) -> ApiResult<()> {
    AccountId::parse("accountId", account_id)?;
    if caller.account.id == account_id {
        Ok(())
    } else {
        Err(ApiError::forbidden("you may change only your own account"))
    }
}

/// Deletes the caller's own account, ending every token and session.
#[utoipa::path(delete, path = "/rest/accounts/{accountId}", tag = "accounts", params(("accountId" = String, Path)),
    responses((status = 204, description = "deleted")))]
async fn delete_account(State(state): State<AppState>, caller: Caller, Path(account_id): Path<String>) -> ApiResult<StatusCode> {
    ensure_self(&caller, &account_id)?;
    state.store.delete_account(&caller.actor, &account_id).await?;
    tracing::info!(account_id = %account_id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Merges `patch` (AccountPreferences) into `current`, validating each key the
/// contract defines; other keys are ignored.
fn merge_preferences(mut current: Map<String, Value>, patch: Value) -> ApiResult<Map<String, Value>> {
    let patch = match patch {
        Value::Null => return Ok(current),
        Value::Object(m) => m,
        _ => return Err(ApiError::bad_request("preferences", "must be an object")),
    };
    for (key, value) in patch {
        let ok = match (key.as_str(), &value) {
            ("language", Value::String(s)) => (2..=3).contains(&s.chars().count()),
            ("lastActiveProject" | "lastActiveOrganization", Value::String(s)) => {
                s.len() == 16 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            }
            ("sendNewsletter", Value::Bool(_)) => true,
            (_, Value::Null) => {
                current.remove(&key);
                continue;
            }
            ("language" | "lastActiveProject" | "lastActiveOrganization" | "sendNewsletter", _) => false,
            _ => continue,
        };
        if !ok {
            let rule = match key.as_str() {
                "language" => "must be a 2 or 3 letter language code",
                "sendNewsletter" => "must be true or false",
                _ => "must be 16 characters [a-z0-9]",
            };
            return Err(ApiError::bad_request(format!("preferences.{key}"), rule));
        }
        current.insert(key, value);
    }
    Ok(current)
}

/// Merges the body into the caller's preferences: keys left out keep their values.
#[utoipa::path(put, path = "/rest/accounts/{accountId}/preferences", tag = "accounts", params(("accountId" = String, Path)),
    request_body(content = Object, description = "AccountPreferences: language, lastActiveProject, lastActiveOrganization, sendNewsletter"),
    responses((status = 204, description = "merged")))]
async fn update_preferences(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<StatusCode> {
    ensure_self(&caller, &account_id)?;
    let current = caller.account.preferences.as_object().cloned().unwrap_or_default();
    let body = match body {
        Value::Object(_) => body,
        _ => {
            return Err(ApiError::BadRequest {
                message: "body must be a JSON object".into(),
                field: None,
            })
        }
    };
    let merged = merge_preferences(current, body)?;
    state
        .store
        .set_preferences(&caller.actor, &account_id, &Value::Object(merged))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// AccountOnboardingParameters.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OnboardingDto {
    #[serde(default)]
    intro_shown: Option<Vec<String>>,
    #[serde(default)]
    tips_shown: Option<Vec<String>>,
}

/// Replaces the lists given in the body; lists left out keep their values.
#[utoipa::path(put, path = "/rest/accounts/{accountId}/onboarding", tag = "accounts", params(("accountId" = String, Path)),
    request_body = OnboardingDto, responses((status = 204, description = "saved")))]
async fn update_onboarding(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    Json(body): Json<OnboardingDto>,
) -> ApiResult<StatusCode> {
    ensure_self(&caller, &account_id)?;
    let mut current = caller.account.onboarding.as_object().cloned().unwrap_or_default();
    if let Some(list) = body.intro_shown {
        current.insert("introShown".into(), list.into());
    }
    if let Some(list) = body.tips_shown {
        current.insert("tipsShown".into(), list.into());
    }
    state
        .store
        .set_onboarding(&caller.actor, &account_id, &Value::Object(current))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// PasswordChangeDTO.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChangeDto {
    old_password: String,
    new_password: String,
}

/// Changes the caller's password. Every bearer session of the account ends,
/// this one included; personal access tokens stay valid.
#[utoipa::path(put, path = "/rest/accounts/{accountId}/password", tag = "accounts", params(("accountId" = String, Path)),
    request_body = PasswordChangeDto, responses((status = 204, description = "changed")))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(account_id): Path<String>,
    Json(body): Json<PasswordChangeDto>,
) -> ApiResult<StatusCode> {
    ensure_self(&caller, &account_id)?;
    change_own_password(&state, &caller, body.old_password, body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks the old password (under the sign-in limits) and the new one's
/// policy, then sets it, ending every session of the account.
pub(crate) async fn change_own_password(state: &AppState, caller: &Caller, old_password: String, new_password: String) -> ApiResult<()> {
    let account_id = &caller.account.id;
    let throttle = state.settings.limits.signin_account();
    let subject = caller.account.email.to_lowercase();
    limits::count_attempt(&state.store, &[(throttle, &subject)]).await?;
    if old_password.len() > locus_core::password::MAX_LEN * 4
        || !passwords::verify(old_password, Some(caller.account.password_hash.clone())).await?
    {
        tracing::warn!(account_id = %account_id, "password change with a wrong old password");
        return Err(ApiError::bad_request("oldPassword", "does not match the current password"));
    }
    limits::refund(&state.store, &[(throttle, &subject)]).await?;
    check_policy("newPassword", &new_password)?;
    let hash = passwords::hash(new_password).await?;
    state.store.set_password(&caller.actor, account_id, &hash, false).await?;
    tracing::info!(account_id = %account_id, "password changed");
    Ok(())
}
