//! The SMTP transport, tested against a real SMTP listener on a real socket.

use crate::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A minimal SMTP server: accepts connections, answers the commands of a plain
/// (no TLS, no auth) session, and hands each message's envelope and DATA over.
async fn smtp_listener() -> (u16, mpsc::UnboundedReceiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP ready\r\n").await.unwrap();
                let mut rcpt = String::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250-test greets you\r\n250 8BITMIME\r\n"
                    } else if upper.starts_with("RCPT TO:") {
                        rcpt = line[8..].trim().to_owned();
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 go ahead\r\n").await.unwrap();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        let _ = tx.send((rcpt.clone(), data));
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    } else {
                        b"250 ok\r\n"
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn reset_mail_goes_out_over_smtp() {
    let (port, mut received) = smtp_listener().await;
    let app = TestApp::spawn_with(|s| {
        s.smtp_url = Some(locus_server::Redacted(format!("smtp://127.0.0.1:{port}")));
        s.mail_from = "Locus Test <noreply@locus.test>".into();
    })
    .await;
    // The sign-up's confirmation link goes out over SMTP too.
    let ann = app.unverified_user().await;
    let (rcpt, data) = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
        .await
        .expect("a mail within 10 s")
        .unwrap();
    assert_eq!(rcpt, format!("<{}>", ann.email));
    assert!(data.contains("Subject: Confirm your e-mail address for Locus"), "{data}");
    app.confirm_email(&crate::secret_in(&data.replace("=\n", ""), "lvem")).await;
    let (status, _) = app.post("/rest/accounts/passwordReset", None, json!({"email": ann.email})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (rcpt, data) = tokio::time::timeout(std::time::Duration::from_secs(10), received.recv())
        .await
        .expect("a mail within 10 s")
        .unwrap();
    assert_eq!(rcpt, format!("<{}>", ann.email));
    assert!(
        data.contains("From: \"Locus Test\" <noreply@locus.test>") || data.contains("From: Locus Test <noreply@locus.test>"),
        "{data}"
    );
    assert!(data.contains("Subject: Reset your Locus password"));
    let secret = crate::secret_in(&data.replace("=\n", ""), "lrst");
    assert_eq!(
        app.get(&format!("/rest/accounts/passwordReset/{secret}"), "").await.0,
        StatusCode::OK,
        "the mailed link works"
    );
    assert_eq!(app.mail_count(), 0, "nothing went to the outbox");
}
