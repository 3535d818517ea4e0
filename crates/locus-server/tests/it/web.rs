//! The web application over plain HTTP: cookies, CSRF, security headers,
//! escaping, and the invitation and reset pages completed from the outbox.
//! (The browser story is in `browser.rs`.)

use crate::projects::create_project;
use crate::{secret_in, TestApp, User, PASSWORD};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;

/// A browser without a browser: keeps cookies, follows nothing by itself.
pub struct Visitor<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }
}

impl<'a> Visitor<'a> {
    pub fn new(app: &'a TestApp) -> Visitor<'a> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Visitor {
            app,
            client,
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let cookie: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let resp = req.header("cookie", cookie.join("; ")).send().await.unwrap();
        for set in resp.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Answer {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let req = self.client.get(format!("{}{path}", self.app.base));
        self.send(req).await
    }

    /// The CSRF token this visitor's forms carry, read off a page.
    pub async fn csrf(&mut self) -> String {
        let page = self.get("/forgot-password").await;
        field_value(&page.body, "csrf").expect("a csrf field")
    }

    /// Posts a form with this visitor's CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.csrf().await;
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields.
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let req = self.client.post(format!("{}{path}", self.app.base)).form(fields);
        self.send(req).await
    }

    pub async fn sign_in(&mut self, user: &User) {
        let answer = self.post("/sign-in", &[("email", &user.email), ("password", &user.password)]).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        assert_eq!(answer.location(), "/projects");
    }

    pub fn cookie(&self, name: &str) -> Option<&String> {
        self.cookies.get(name)
    }
}

/// The value of the first `<input name="{name}" value="…">` on a page.
pub fn field_value(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_cookies_are_httponly_and_lax() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let page = v.get("/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    let header = |name: &str| page.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("referrer-policy"), "same-origin");
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(header("x-frame-options"), "DENY");
    let csrf_cookie = header("set-cookie");
    assert!(
        csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Lax"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.contains("Secure"), "plain http: no Secure flag");

    let ann = app.user().await;
    let signed_in = v.post("/sign-in", &[("email", &ann.email), ("password", PASSWORD)]).await;
    let session = signed_in.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(session.starts_with("locus_session=lbt_"), "{session}");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax") && session.contains("Max-Age=43200"),
        "{session}"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_public_url_is_https() {
    let app = TestApp::spawn_with(|s| s.public_url = "https://locus.example.org".into()).await;
    let mut v = Visitor::new(&app);
    let page = v.get("/sign-in").await;
    let cookie = page.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_origin_change_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;

    let missing = v.post_raw("/projects", &[("title", "Forged")]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert!(missing.body.contains("This form has expired"), "{}", missing.body);
    let wrong = v
        .post_raw("/projects", &[("csrf", "0123456789abcdef0123456789abcdef"), ("title", "Forged")])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);

    // The right token, but posted by a page of another site.
    let csrf = v.csrf().await;
    let cookie: Vec<String> = v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let cross = v
        .client
        .post(format!("{}/projects", app.base))
        .header("origin", "https://evil.example")
        .header("cookie", cookie.join("; "))
        .form(&[("csrf", csrf.as_str()), ("title", "Forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // A token from before signing in does not work after it: tokens follow the session.
    let mut other = Visitor::new(&app);
    let anonymous_token = other.csrf().await;
    other.sign_in(&ann).await;
    let stale = other
        .post_raw("/projects", &[("csrf", &anonymous_token), ("title", "Forged")])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);

    let (_, projects) = app.get("/rest/projects", &ann.bearer).await;
    assert_eq!(projects["content"].as_array().unwrap().len(), 0, "{projects}");
    let made = v.post("/projects", &[("title", "Real")]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
}

#[tokio::test]
async fn signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;
    let session = v.cookie("locus_session").unwrap().clone();
    assert_eq!(v.get("/projects").await.status, StatusCode::OK);
    let out = v.post("/sign-out", &[]).await;
    assert_eq!((out.status, out.location()), (StatusCode::SEE_OTHER, "/sign-in"));
    assert!(v.cookie("locus_session").is_none(), "the cookie is cleared");

    // Someone who kept a copy of the cookie gets nothing either.
    let mut thief = Visitor::new(&app);
    thief.cookies.insert("locus_session".into(), session.clone());
    let page = thief.get("/projects").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/sign-in?next=%2Fprojects"));
    // The session cookie is also a bearer of the API, and it is dead there too.
    assert_eq!(app.get("/rest/accounts/current", &session).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_and_next_never_leaves_the_site() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    let wrong = v.post("/sign-in", &[("email", &ann.email), ("password", "not-the-password")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong e-mail or password."), "{}", wrong.body);
    assert!(wrong.body.contains(&format!("value=\"{}\"", ann.email)), "the e-mail is kept");
    let evil = v
        .post(
            "/sign-in",
            &[("email", &ann.email), ("password", PASSWORD), ("next", "//evil.example/")],
        )
        .await;
    assert_eq!(evil.location(), "/projects");
    let mut w = Visitor::new(&app);
    let back = w
        .post("/sign-in", &[("email", &ann.email), ("password", PASSWORD), ("next", "/account")])
        .await;
    assert_eq!(back.location(), "/account");
}

#[tokio::test]
async fn what_users_type_is_escaped_on_every_page() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;
    let made = v
        .post(
            "/projects",
            &[
                ("title", "<script>alert(1)</script>"),
                ("description", "\"><img src=x onerror=alert(2)>"),
            ],
        )
        .await;
    let page = v.get(made.location()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", page.body);
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
}

#[tokio::test]
async fn members_without_membership_list_see_no_user_management_and_are_refused_it() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let vic = app.user().await;
    let pid = create_project(&app, &ann, "Shops").await["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/members"),
            Some(&ann.bearer),
            json!({"email": vic.email, "role": "VIEWER"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let mut admin = Visitor::new(&app);
    admin.sign_in(&ann).await;
    let page = admin.get(&format!("/projects/{pid}")).await;
    assert!(page.body.contains("id=\"menu-users\"") && page.body.contains("id=\"menu-audit\""));

    let mut viewer = Visitor::new(&app);
    viewer.sign_in(&vic).await;
    let page = viewer.get(&format!("/projects/{pid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("VIEWER"));
    assert!(
        !page.body.contains("menu-users") && !page.body.contains("menu-audit"),
        "{}",
        page.body
    );
    let refused = viewer.get(&format!("/projects/{pid}/users")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("membership.list"), "{}", refused.body);
    assert_eq!(viewer.get(&format!("/projects/{pid}/audit")).await.status, StatusCode::FORBIDDEN);
    let members = app.get(&format!("/rest/projects/{pid}/members"), &ann.bearer).await.1;
    let vic_membership = members["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["accountId"] == vic.id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = viewer
        .post(&format!("/projects/{pid}/users/{vic_membership}"), &[("role", "ADMIN")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "the server refuses, whatever the page shows");

    // A stranger does not learn that the project exists.
    let stranger = app.user().await;
    let mut s = Visitor::new(&app);
    s.sign_in(&stranger).await;
    assert_eq!(s.get(&format!("/projects/{pid}")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_management_changes_roles_and_status_and_shows_the_last_admin_refusal() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let pid = create_project(&app, &ann, "Shops").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&ann.bearer),
        json!({"email": bob.email, "role": "VIEWER"}),
    )
    .await;
    let members = app.get(&format!("/rest/projects/{pid}/members"), &ann.bearer).await.1;
    let id_of = |account: &str| {
        members["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["accountId"] == account)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (ann_m, bob_m) = (id_of(&ann.id), id_of(&bob.id));
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;
    let page = v.get(&format!("/projects/{pid}/users")).await;
    assert!(page.body.contains(&bob.email) && page.body.contains(&ann.email));

    let changed = v.post(&format!("/projects/{pid}/users/{bob_m}"), &[("role", "EDITOR")]).await;
    assert_eq!(changed.location(), format!("/projects/{pid}/users?done=role"));
    let bob_detail = app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.1;
    assert_eq!(bob_detail["membership"]["role"], "EDITOR");

    v.post(&format!("/projects/{pid}/users/{bob_m}"), &[("status", "DISABLED")]).await;
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0,
        StatusCode::FORBIDDEN
    );
    v.post(&format!("/projects/{pid}/users/{bob_m}"), &[("status", "ENABLED")]).await;
    assert_eq!(app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0, StatusCode::OK);

    let refused = v.post(&format!("/projects/{pid}/users/{ann_m}"), &[("role", "VIEWER")]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.body.contains("A project must keep at least one enabled ADMIN"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("id=\"members\""), "the users page, with the reason");
    let bad_role = v.post(&format!("/projects/{pid}/users/{bob_m}"), &[("role", "DUMP_DATA")]).await;
    assert_eq!(bad_role.status, StatusCode::BAD_REQUEST);

    let removed = v.post(&format!("/projects/{pid}/users/{bob_m}/remove"), &[]).await;
    assert_eq!(removed.location(), format!("/projects/{pid}/users?done=removed"));
    assert_eq!(
        app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.0,
        StatusCode::NOT_FOUND
    );
}

/// Invites through the page and returns the link's secret from the outbox.
async fn invite_on_page(v: &mut Visitor<'_>, app: &TestApp, pid: &str, emails: &str, role: &str, mails_before: usize) -> Vec<String> {
    let answer = v
        .post(&format!("/projects/{pid}/invitations"), &[("emails", emails), ("role", role)])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let count = emails.split(',').count();
    let mails = app.mails(mails_before + count).await;
    // Mail goes out in the background, in any order: sort the links by the order of `emails`.
    let recipient = |mail: &str| {
        let to = mail.lines().find_map(|l| l.strip_prefix("To: ")).unwrap().trim().to_lowercase();
        emails.split(',').position(|e| to.contains(&e.trim().to_lowercase())).unwrap()
    };
    let mut links: Vec<(usize, String)> = mails[mails_before..].iter().map(|m| (recipient(m), secret_in(m, "linv"))).collect();
    links.sort();
    links.into_iter().map(|(_, link)| link).collect()
}

#[tokio::test]
async fn an_invited_newcomer_signs_up_from_the_link_and_lands_in_the_project() {
    let app = TestApp::spawn_with(|s| s.signup = locus_server::SignupMode::Closed).await;
    let ann_account = locus_store::NewAccount {
        email: "ann@example.org".into(),
        given_name: "Ann".into(),
        surname: "Admin".into(),
        phone_number: None,
        consent_granted: true,
        password_hash: locus_server::auth::passwords::hash(PASSWORD.into()).await.unwrap(),
        operator: false,
        preferences: json!({}),
        email_verified: true,
    };
    app.state
        .store
        .create_account(&locus_store::Actor::operator_cli(), &ann_account)
        .await
        .unwrap();
    let ann = User {
        id: String::new(),
        email: "ann@example.org".into(),
        password: PASSWORD.into(),
        bearer: String::new(),
    };
    let mut admin = Visitor::new(&app);
    admin.sign_in(&ann).await;
    let made = admin.post("/projects", &[("title", "Harbour <Stores>")]).await;
    let pid = made.location().trim_start_matches("/projects/").to_owned();
    let links = invite_on_page(&mut admin, &app, &pid, "new@example.org, second@example.org", "EDITOR", 0).await;
    assert_eq!(links.len(), 2);
    assert_ne!(links[0], links[1], "each e-mail has its own link");

    let mut newcomer = Visitor::new(&app);
    let landing = newcomer.get(&format!("/invitations/{}", links[0])).await;
    assert_eq!(landing.status, StatusCode::OK);
    assert!(landing.body.contains("Harbour &lt;Stores&gt;") && landing.body.contains("Ann Admin") && landing.body.contains("EDITOR"));
    assert!(landing.body.contains("id=\"sign-up-invited\""), "{}", landing.body);
    let form = newcomer.get(&format!("/sign-up?invitation={}", links[0])).await;
    assert!(
        form.body.contains("value=\"new@example.org\" readonly"),
        "the e-mail is fixed: {}",
        form.body
    );
    // Closed sign-up is open to the holder of an invitation, and the e-mail is the invited one whatever the form says.
    let done = newcomer
        .post(
            "/sign-up",
            &[
                ("given_name", "Nia"),
                ("surname", "New"),
                ("email", "other@example.org"),
                ("password", PASSWORD),
                ("invitation", &links[0]),
            ],
        )
        .await;
    assert_eq!(
        (done.status, done.location()),
        (StatusCode::SEE_OTHER, format!("/projects/{pid}").as_str()),
        "{}",
        done.body
    );
    let project = newcomer.get(&format!("/projects/{pid}")).await;
    assert!(project.body.contains("EDITOR"), "{}", project.body);
    assert!(app.state.store.account_by_email("other@example.org").await.unwrap().is_none());
    assert!(app.state.store.account_by_email("new@example.org").await.unwrap().is_some());

    // Without an invitation, closed stays closed.
    let mut stranger = Visitor::new(&app);
    let refused = stranger
        .post(
            "/sign-up",
            &[
                ("given_name", "S"),
                ("surname", "T"),
                ("email", "s@example.org"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // The used link now says it was accepted.
    let used = stranger.get(&format!("/invitations/{}", links[0])).await;
    assert!(used.body.contains("This invitation was accepted"), "{}", used.body);
}

#[tokio::test]
async fn an_existing_account_signs_in_from_the_link_and_lands_in_the_project() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let bob = app.user().await;
    let eve = app.user().await;
    let mut admin = Visitor::new(&app);
    admin.sign_in(&ann).await;
    let pid = admin
        .post("/projects", &[("title", "Depots")])
        .await
        .location()
        .trim_start_matches("/projects/")
        .to_owned();
    let links = invite_on_page(&mut admin, &app, &pid, &bob.email.to_uppercase(), "DATA_EDITOR", 0).await;

    // Someone else, signed in, cannot take it.
    let mut other = Visitor::new(&app);
    other.sign_in(&eve).await;
    let landing = other.get(&format!("/invitations/{}", links[0])).await;
    assert!(landing.body.contains("id=\"other-account\""), "{}", landing.body);
    let taken = other.post(&format!("/invitations/{}", links[0]), &[]).await;
    assert_eq!(taken.status, StatusCode::FORBIDDEN);

    let mut invitee = Visitor::new(&app);
    let landing = invitee.get(&format!("/invitations/{}", links[0])).await;
    assert!(landing.body.contains("id=\"sign-in-invited\""));
    let form = invitee
        .get(&format!("/sign-in?invitation={}&email={}", links[0], bob.email.to_uppercase()))
        .await;
    assert!(form.body.contains(&format!("value=\"{}\"", bob.email.to_uppercase())), "prefilled");
    let done = invitee
        .post(
            "/sign-in",
            &[("email", &bob.email), ("password", PASSWORD), ("invitation", &links[0])],
        )
        .await;
    assert_eq!(done.location(), format!("/projects/{pid}"));
    let detail = app.get(&format!("/rest/projects/{pid}"), &bob.bearer).await.1;
    assert_eq!(detail["membership"]["role"], "DATA_EDITOR");

    // Resending from the page kills the old link.
    let links2 = invite_on_page(&mut admin, &app, &pid, "late@example.org", "VIEWER", 1).await;
    let list = app
        .get(&format!("/rest/projects/{pid}/invitations?status=PENDING"), &ann.bearer)
        .await
        .1;
    let late_id = list["content"][0]["id"].as_str().unwrap().to_owned();
    let resent = admin
        .post(&format!("/projects/{pid}/invitations/{late_id}"), &[("action", "resend")])
        .await;
    assert_eq!(resent.location(), format!("/projects/{pid}/users?done=resent#invitations"));
    // The resend's mail: to the same address, with another link (mail files may share a millisecond).
    let mails = app.mails(3).await;
    let fresh = mails
        .iter()
        .filter(|m| m.contains("To: late@example.org"))
        .map(|m| secret_in(m, "linv"))
        .find(|s| *s != links2[0])
        .expect("a second mail to late@example.org");
    assert_eq!(
        invitee.get(&format!("/invitations/{}", links2[0])).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(invitee.get(&format!("/invitations/{fresh}")).await.status, StatusCode::OK);
    let canceled = admin
        .post(&format!("/projects/{pid}/invitations/{late_id}"), &[("action", "cancel")])
        .await;
    assert_eq!(canceled.status, StatusCode::SEE_OTHER);
    let page = invitee.get(&format!("/invitations/{fresh}")).await;
    assert!(page.body.contains("This invitation was canceled"), "{}", page.body);
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_mailed_page() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    let sent = v.post("/forgot-password", &[("email", &ann.email)]).await;
    assert!(sent.body.contains("id=\"sent\""));
    let unknown = v.post("/forgot-password", &[("email", "nobody@example.org")]).await;
    assert_eq!(
        sent.body
            .replace(&ann.email, "X")
            .replace(&field_value(&sent.body, "csrf").unwrap_or_default(), ""),
        unknown
            .body
            .replace("nobody@example.org", "X")
            .replace(&field_value(&unknown.body, "csrf").unwrap_or_default(), ""),
        "the answer reveals nothing about accounts"
    );
    let mail = app.mails(1).await.remove(0);
    assert!(mail.replace("=\r\n", "").contains(&format!("{}/reset-password/lrst_", app.base)));
    let token = secret_in(&mail, "lrst");
    let page = v.get(&format!("/reset-password/{token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains(&ann.email));
    let weak = v.post(&format!("/reset-password/{token}"), &[("new_password", "password")]).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    let done = v
        .post(&format!("/reset-password/{token}"), &[("new_password", "An0ther-fine-secret")])
        .await;
    assert_eq!(done.location(), "/sign-in?reset=1");
    assert_eq!(
        v.get(&format!("/reset-password/{token}")).await.status,
        StatusCode::NOT_FOUND,
        "single use"
    );
    assert_eq!(app.sign_in(&ann.email, "An0ther-fine-secret").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_sign_up_confirms_its_address_on_the_mailed_page_by_a_click_not_by_opening_it() {
    let app = TestApp::spawn().await;
    let mut v = Visitor::new(&app);
    let signed_up = v
        .post(
            "/sign-up",
            &[
                ("given_name", "Nora"),
                ("surname", "New"),
                ("email", "nora@example.org"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(signed_up.status, StatusCode::SEE_OTHER, "{}", signed_up.body);
    let account = v.get("/account").await;
    assert!(account.body.contains("id=\"unverified\""), "{}", account.body);
    let mail = app.mails(1).await.remove(0);
    assert!(mail.contains("Subject: Confirm your e-mail address for Locus"), "{mail}");
    let token = secret_in(&mail, "lvem");

    // Opening the link (as a mail scanner does) verifies nothing.
    let mut scanner = Visitor::new(&app);
    let page = scanner.get(&format!("/verify-email/{token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("nora@example.org") && page.body.contains("id=\"confirm\""),
        "{}",
        page.body
    );
    assert!(v.get("/account").await.body.contains("id=\"unverified\""));

    // The owner asks for another link; both work until one is used.
    let resent = v.post("/account/verification", &[]).await;
    assert_eq!(resent.location(), "/account?done=verification");
    app.mails(2).await;
    let done = v.post(&format!("/verify-email/{token}"), &[]).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(done.body.contains("id=\"verified\""), "{}", done.body);
    assert!(!v.get("/account").await.body.contains("id=\"unverified\""));
    assert_eq!(
        v.get(&format!("/verify-email/{token}")).await.status,
        StatusCode::NOT_FOUND,
        "single use"
    );
}

#[tokio::test]
async fn the_account_page_renames_and_shows_a_new_token_once() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;
    let renamed = v.post("/account/name", &[("given_name", "Annabel"), ("surname", "Lee")]).await;
    assert_eq!(renamed.location(), "/account?done=name");
    assert!(v.get("/account").await.body.contains("Annabel Lee"));

    let created = v.post("/account/tokens", &[("name", "ci script")]).await;
    assert_eq!(created.status, StatusCode::OK);
    let secret = created
        .body
        .split("id=\"new-token-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.starts_with("lpat_"), "{secret}");
    assert_eq!(app.exchange(&secret).await.0, StatusCode::OK, "the shown token works");
    let again = v.get("/account").await;
    assert!(again.body.contains("ci script") && !again.body.contains(&secret), "shown once");

    let token_id = again
        .body
        .split("data-token=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let revoked = v.post(&format!("/account/tokens/{token_id}/revoke"), &[]).await;
    assert_eq!(revoked.location(), "/account?done=revoked");
    assert_eq!(app.exchange(&secret).await.0, StatusCode::UNAUTHORIZED);

    let wrong = v
        .post(
            "/account/password",
            &[("old_password", "nope-nope-nope"), ("new_password", "An0ther-fine-secret")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    let changed = v
        .post(
            "/account/password",
            &[("old_password", PASSWORD), ("new_password", "An0ther-fine-secret")],
        )
        .await;
    assert_eq!(changed.location(), "/sign-in?changed=1");
    assert_eq!(
        v.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "the session ended with the change"
    );
}

#[tokio::test]
async fn the_audit_page_filters_and_pages_newest_first() {
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let mut v = Visitor::new(&app);
    v.sign_in(&ann).await;
    let pid = v
        .post("/projects", &[("title", "Logs")])
        .await
        .location()
        .trim_start_matches("/projects/")
        .to_owned();
    for i in 0..60 {
        let title = format!("Logs {i}");
        let (status, _) = app
            .call(
                reqwest::Method::PUT,
                &format!("/rest/projects/{pid}"),
                Some(&ann.bearer),
                Some(json!({"title": title})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let page = v.get(&format!("/projects/{pid}/audit")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body.matches("class=\"event-type\"").count(), 50);
    let first = page.body.find("Logs 59").unwrap();
    let later = page.body.find("Logs 58").unwrap();
    assert!(first < later, "newest first");
    let older = page
        .body
        .split("id=\"older\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let page2 = v.get(&format!("/projects/{pid}/audit{older}")).await;
    let rest = page2.body.matches("class=\"event-type\"").count();
    assert!(
        (11..50).contains(&rest),
        "60 updates and the creation events: {rest} on the second page"
    );
    assert!(page2.body.contains("create_project"));

    let filtered = v.get(&format!("/projects/{pid}/audit?eventType=create_project")).await;
    assert_eq!(filtered.body.matches("class=\"event-type\"").count(), 1);
    let later_only = v.get(&format!("/projects/{pid}/audit?from=2999-01-01T00:00")).await;
    assert!(later_only.body.contains("id=\"no-events\""));
    let bad = v.get(&format!("/projects/{pid}/audit?from=yesterday")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_project_page_lists_default_views_first_then_personal_ones_by_title_and_stories() {
    use crate::metadata::{create, dashboard, settings, view};
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let vera = app.user().await;
    let pid = create_project(&app, &ann, "Views").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&ann.bearer),
        json!({"accountId": vera.id, "role": "VIEW_CREATOR"}),
    )
    .await;
    create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    create(&app, &ann, &pid, "views", view("second", "B second", "main")).await;
    create(&app, &ann, &pid, "views", view("first", "Z first", "main")).await;
    create(&app, &vera, &pid, "views", view("mine_b", "Mine B", "main")).await;
    create(&app, &vera, &pid, "views", view("mine_a", "Mine A", "main")).await;
    create(&app, &ann, &pid, "projectSettings", settings(&["first", "second"])).await;
    let (status, _) = app
        .post(
            &format!("/rest/projects/{pid}/stories"),
            Some(&vera.bearer),
            json!({"title": "Launch story", "blocks": []}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let mut v = Visitor::new(&app);
    v.sign_in(&vera).await;
    let page = v.get(&format!("/projects/{pid}")).await;
    let order: Vec<&str> = page
        .body
        .split("data-view=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    assert_eq!(order, ["first", "second", "mine_a", "mine_b"], "{}", page.body);
    assert!(page.body.contains("Launch story"));

    let mut admin = Visitor::new(&app);
    admin.sign_in(&ann).await;
    let page = admin.get(&format!("/projects/{pid}")).await;
    assert!(page.body.contains("Launch story"));
    assert!(
        page.body.contains("data-view=\"mine_a\""),
        "an admin sees personal views, to publish them"
    );
}

#[tokio::test]
async fn a_share_link_opens_the_view_with_its_state_until_the_view_changes() {
    use crate::metadata::{create, dashboard, send, view};
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let vic = app.user().await;
    let pid = create_project(&app, &ann, "Shares").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&ann.bearer),
        json!({"accountId": vic.id, "role": "VIEWER"}),
    )
    .await;
    create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    let v = create(&app, &ann, &pid, "views", view("shops", "Shops <north>", "main")).await;
    let (status, share) = app
        .post(
            &format!("/rest/projects/{pid}/shares"),
            Some(&ann.bearer),
            json!({"view": "shops", "state": {"zoom": 11}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let link = share["link"].as_str().unwrap().strip_prefix(&app.base).unwrap().to_owned();

    let mut viewer = Visitor::new(&app);
    viewer.sign_in(&vic).await;
    let page = viewer.get(&link).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("Shops &lt;north&gt;") && page.body.contains("&quot;zoom&quot;: 11"),
        "{}",
        page.body
    );
    let project_page = viewer.get(&format!("/projects/{pid}")).await;
    assert!(project_page.body.contains(&format!("href=\"/projects/{pid}/views/shops\"")));

    let mut changed = view("shops", "Shops north", "main");
    changed["description"] = json!("changed");
    let v_path = format!("/rest/projects/{pid}/md/views/{}", v["id"].as_str().unwrap());
    let (status, _, _) = send(
        &app,
        reqwest::Method::PUT,
        &v_path,
        &ann.bearer,
        &[("If-Match", "1")],
        Some(changed),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let page = viewer.get(&link).await;
    assert!(
        page.body.contains("id=\"share-ended\"") && !page.body.contains("zoom"),
        "{}",
        page.body
    );
    assert_eq!(
        viewer.get(&format!("/projects/{pid}/views/nothing")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_public_access_page_makes_links_only_for_switched_on_accounts_and_admins_revoke_them() {
    let app = TestApp::spawn().await;
    let shared = crate::public::shared_project(&app, "VIEWER").await;
    let pid = &shared.pid;
    let page = format!("/projects/{pid}/public");

    // The admin was never switched on: the page says so, and a forged form is refused.
    let mut admin = Visitor::new(&app);
    admin.sign_in(&shared.admin).await;
    let seen = admin.get(&format!("/projects/{pid}")).await;
    assert!(seen.body.contains("id=\"menu-public\""), "admins see the page to revoke links");
    let seen = admin.get(&page).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains("id=\"public-not-enabled\"") && !seen.body.contains("id=\"public-form\""));
    let forged = admin.post(&page, &[("name", "mine")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);

    // A plain member sees no menu entry, and is refused the page.
    let viewer = app.user().await;
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&shared.admin.bearer),
        json!({"accountId": viewer.id, "role": "VIEWER"}),
    )
    .await;
    let mut v = Visitor::new(&app);
    v.sign_in(&viewer).await;
    assert!(!v.get(&format!("/projects/{pid}")).await.body.contains("menu-public"));
    assert_eq!(v.get(&page).await.status, StatusCode::FORBIDDEN);

    // The service account: a bad expiry re-renders the form with the reason; a good form shows the link once.
    let mut service = Visitor::new(&app);
    service.sign_in(&shared.service).await;
    let bad = service.post(&page, &[("name", "x"), ("expires_at", "2001-01-01T00:00")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("id=\"error\"") && bad.body.contains("future"), "{}", bad.body);
    let made = service.post(&page, &[("name", "Website"), ("view:v2", "on")]).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let marker = "id=\"new-public-link\" value=\"";
    let start = made.body.find(marker).unwrap() + marker.len();
    let link = made.body[start..].split('"').next().unwrap().replace("&#x2f;", "/");
    assert!(link.starts_with(&format!("{}/public/{pid}#token=lpub_", app.base)), "{link}");
    let token = link.split("#token=").nth(1).unwrap();
    let tokens = app.state.store.public_tokens(pid, None).await.unwrap();
    assert_eq!((tokens.len(), tokens[0].views.as_slice()), (1, ["v2".to_owned()].as_slice()));
    assert!(!service.get(&page).await.body.contains(token), "shown once");

    // The admin sees the link and revokes it; the link then opens nothing.
    let bearer = crate::public::public_bearer(&app, token).await;
    let listed = admin.get(&page).await;
    assert!(listed.body.contains("Website"));
    let revoked = admin.post(&format!("{page}/{}/revoke", tokens[0].id), &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert!(admin.get(revoked.location()).await.body.contains("revoked"));
    assert_eq!(app.get(&format!("/rest/projects/{pid}"), &bearer).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_view_page_shares_bookmarks_and_saves_the_map_for_roles_that_may() {
    use crate::metadata::{create, dashboard, view};
    let app = TestApp::spawn().await;
    let ann = app.user().await;
    let vic = app.user().await;
    let pid = create_project(&app, &ann, "Buttons").await["id"].as_str().unwrap().to_owned();
    app.post(
        &format!("/rest/projects/{pid}/members"),
        Some(&ann.bearer),
        json!({"accountId": vic.id, "role": "VIEWER"}),
    )
    .await;
    create(&app, &ann, &pid, "dashboards", dashboard("main")).await;
    create(&app, &ann, &pid, "views", view("shops", "Shops", "main")).await;
    let page_path = format!("/projects/{pid}/views/shops");

    // A viewer may share and bookmark, not save views.
    let mut viewer = Visitor::new(&app);
    viewer.sign_in(&vic).await;
    let page = viewer.get(&page_path).await;
    assert!(
        page.body.contains("id=\"share-view\"") && page.body.contains("id=\"bookmark-view\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"save-personal\"") && !page.body.contains("id=\"save-project\""));
    let state = r#"{"indicator":"revenue","dataset":"shops","map":"11.00/50.08000/14.42000"}"#;
    let shared = viewer.post(&format!("{page_path}/share"), &[("state", state)]).await;
    assert_eq!(shared.status, StatusCode::SEE_OTHER, "{}", shared.body);
    let opened = viewer.get(shared.location()).await;
    assert!(opened.body.contains("id=\"share-link\""), "{}", opened.body);
    assert!(
        opened.body.contains("?shareId=") && opened.body.contains("11.00&#x2f;50.08000&#x2f;14.42000"),
        "the page carries the state: {}",
        opened.body
    );
    let marked = viewer
        .post(&format!("{page_path}/bookmark"), &[("state", state), ("title", "Prague shops")])
        .await;
    assert_eq!(marked.location(), format!("{page_path}?saved=bookmark"));
    assert!(viewer.get(marked.location()).await.body.contains("id=\"bookmarked\""));
    let (_, bookmarks) = app.get(&format!("/rest/projects/{pid}/bookmarks"), &vic.bearer).await;
    let saved = &bookmarks["content"][0];
    assert_eq!(saved["title"], "Prague shops", "{bookmarks}");
    assert_eq!(saved["state"]["view"], "shops", "{bookmarks}");
    assert_eq!(saved["state"]["dataset"], "shops", "{bookmarks}");
    let refused = viewer
        .post(&format!("{page_path}/save"), &[("scope", "personal"), ("title", "Mine")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let bad = viewer.post(&format!("{page_path}/share"), &[("state", "[1]")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // The admin saves a personal copy and lands on it.
    let mut admin = Visitor::new(&app);
    admin.sign_in(&ann).await;
    let page = admin.get(&page_path).await;
    assert!(page.body.contains("id=\"save-personal\"") && page.body.contains("id=\"save-project\""));
    let copied = admin
        .post(
            &format!("{page_path}/save"),
            &[("scope", "personal"), ("title", "My shops"), ("state", state)],
        )
        .await;
    assert_eq!(copied.status, StatusCode::SEE_OTHER, "{}", copied.body);
    assert!(
        copied.location().starts_with(&format!("/projects/{pid}/views/my_shops_")),
        "{}",
        copied.location()
    );
    let copy = admin.get(copied.location()).await;
    assert_eq!(copy.status, StatusCode::OK);
    assert!(copy.body.contains("My shops") && copy.body.contains("personal"), "{}", copy.body);
}
