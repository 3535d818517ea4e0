//! Integration tests over real HTTP: each test starts the real application on
//! port 0 with a fresh database, and talks to it like a client would.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod accounts;
mod auditlog;
mod browser;
mod conformance;
mod data_load;
mod datasets;
mod dwh;
mod email_verification;
mod errors;
mod invitations;
mod limits;
mod map;
mod members;
mod metadata;
mod multi_instance;
mod openapi;
mod points;
mod projects;
mod proxies;
mod public;
mod reset;
mod smtp;
mod tokens;
mod web;

use locus_server::{AppState, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub const PASSWORD: &str = "Plenty-of-3ntropy";

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

/// A signed-up, signed-in account.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password: String,
    pub bearer: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::new(dir.path().to_path_buf(), String::new());
        // Test stories sign many people up from one address; the sign-up limit
        // has a test of its own (limits.rs).
        settings.limits.signup_per_address = 10_000;
        configure(&mut settings);
        Self::start(settings, dir).await
    }

    /// Starts on `database_url`, which other instances may share.
    pub async fn spawn_on(database_url: &str) -> TestApp {
        let url = database_url.to_owned();
        Self::spawn_with(move |s| s.database_url = Some(locus_server::Redacted(url))).await
    }

    async fn start(mut settings: Settings, dir: tempfile::TempDir) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        if settings.public_url.is_empty() {
            settings.public_url = base.clone();
        }
        let state = AppState::open(settings).await.expect("open app");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serving = state.clone();
        tokio::spawn(async move {
            locus_server::serve(listener, serving, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            state,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    pub fn outbox(&self) -> PathBuf {
        self.state.settings.outbox_dir()
    }

    /// Sends a request; `bearer` and `body` are optional.
    pub async fn call(&self, method: Method, path: &str, bearer: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/rest/accounts",
            None,
            json!({"givenName": "Test", "surname": "User", "email": email, "password": password}),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/rest/oauth/token",
            None,
            json!({"grant_type": "password", "username": email, "password": password}),
        )
        .await
    }

    /// Signs up a new random account, confirms its e-mail through the
    /// mailed link as its owner would (the mail then leaves the outbox,
    /// which tests count), and signs it in.
    pub async fn user(&self) -> User {
        let user = self.unverified_user().await;
        let link = self.verification_link(&user.email, true).await;
        self.confirm_email(&link).await;
        user
    }

    /// Signs up a new random account and signs it in; its e-mail stays
    /// unverified (its link is in the mail).
    pub async fn unverified_user(&self) -> User {
        let email = format!("user-{}@example.org", locus_core::random_base62(10).to_lowercase());
        let (status, account) = self.sign_up(&email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{account}");
        let (status, token) = self.sign_in(&email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{token}");
        User {
            id: account["id"].as_str().expect("id").to_owned(),
            email,
            password: PASSWORD.to_owned(),
            bearer: token["access_token"].as_str().expect("access_token").to_owned(),
        }
    }

    /// Uses an e-mail verification link's token.
    pub async fn confirm_email(&self, token: &str) {
        let (status, verified) = self
            .post(&format!("/rest/accounts/emailVerification/{token}"), None, Value::Null)
            .await;
        assert_eq!((status, &verified["emailVerified"]), (StatusCode::OK, &json!(true)), "{verified}");
    }

    /// Creates a platform operator (as `locus admin create-account --operator`
    /// does) and answers its bearer.
    pub async fn operator(&self) -> String {
        let email = format!("ops-{}@example.org", locus_core::random_base62(10).to_lowercase());
        let ops = locus_store::NewAccount {
            email: email.clone(),
            given_name: "Olga".into(),
            surname: "Ops".into(),
            phone_number: None,
            consent_granted: true,
            password_hash: locus_server::auth::passwords::hash(PASSWORD.into()).await.unwrap(),
            operator: true,
            preferences: json!({}),
            email_verified: true,
        };
        self.state
            .store
            .create_account(&locus_store::Actor::operator_cli(), &ops)
            .await
            .unwrap();
        let (_, token) = self.sign_in(&email, PASSWORD).await;
        token["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates a personal access token for `user`; returns (id, secret).
    pub async fn access_token(&self, user: &User) -> (String, String) {
        let (status, body) = self
            .post("/rest/accounts/current/accessTokens", Some(&user.bearer), json!({"name": "test"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["id"].as_str().expect("id").to_owned(),
            body["token"].as_str().expect("token").to_owned(),
        )
    }

    /// Exchanges an access token for a bearer.
    pub async fn exchange(&self, token: &str) -> (StatusCode, Value) {
        self.post("/rest/oauth/token", None, json!({"refresh_token": token})).await
    }

    /// Waits (bounded) until `count` mails sit in the outbox, and returns them
    /// oldest first. Mail is sent in the background, so it can trail the response.
    pub async fn mails(&self, count: usize) -> Vec<String> {
        for _ in 0..250 {
            let mut files = self.mail_files();
            if files.len() >= count {
                files.sort();
                return files.iter().map(|p| std::fs::read_to_string(p).expect("mail")).collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {count} mails in the outbox");
    }

    /// The token of the newest e-mail verification link mailed to `email`
    /// (waiting for it, bounded); with `take`, its mail leaves the outbox.
    pub async fn verification_link(&self, email: &str, take: bool) -> String {
        for _ in 0..250 {
            let mut files = self.mail_files();
            files.sort();
            for file in files.iter().rev() {
                let text = std::fs::read_to_string(file).unwrap_or_default();
                if !text.contains("lvem_") || !text.contains(&format!("To: {email}")) {
                    continue;
                }
                let token = secret_in(&text, "lvem");
                if take {
                    std::fs::remove_file(file).expect("remove the mail");
                }
                return token;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no verification mail to {email}");
    }

    pub fn mail_count(&self) -> usize {
        self.mail_files().len()
    }

    /// The finished messages in the outbox (`.eml`; a `.part` is still being written).
    fn mail_files(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.outbox())
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Finds `{prefix}_…` secret in a mail, undoing quoted-printable soft breaks.
pub fn secret_in(mail: &str, prefix: &str) -> String {
    let body = mail.replace("=\r\n", "").replace("=\n", "");
    let start = body
        .find(&format!("{prefix}_"))
        .unwrap_or_else(|| panic!("no {prefix} secret in mail:\n{mail}"));
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// `secret` with its last character changed: the same id, a wrong secret.
pub fn tamper(secret: &str) -> String {
    let (head, last) = secret.split_at(secret.len() - 1);
    format!("{head}{}", if last == "X" { "Y" } else { "X" })
}
