//! One mailer, two transports: SMTP when `--smtp-url` is set, otherwise an
//! outbox directory with one `.eml` file per message. Logs name the recipient
//! and subject, never the body (links in it carry secrets).

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;

/// A message to send. `html`, when given, becomes the alternative part.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(#[from] lettre::error::Error),
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("outbox: {0}")]
    Outbox(#[from] std::io::Error),
}

#[derive(Clone)]
enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Mails handed to [`Mailer::send_later`] and not yet sent (or failed).
    in_flight: tokio::sync::watch::Sender<usize>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.transport {
            Transport::Outbox(dir) => format!("outbox {}", dir.display()),
            Transport::Smtp(_) => "smtp".to_owned(),
        };
        f.debug_struct("Mailer")
            .field("transport", &kind)
            .field("from", &self.from.to_string())
            .finish()
    }
}

impl Mailer {
    pub fn outbox(dir: PathBuf, from: &str) -> Result<Mailer, MailError> {
        std::fs::create_dir_all(&dir)?;
        Ok(Mailer {
            transport: Transport::Outbox(dir),
            from: parse_mailbox(from)?,
            in_flight: tokio::sync::watch::Sender::new(0),
        })
    }

    /// `url` as lettre reads it: `smtp://user:pass@host:587?tls=required`, `smtps://…`,
    /// or plain `smtp://host:25` for a trusted local relay.
    pub fn smtp(url: &str, from: &str) -> Result<Mailer, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)?.build();
        Ok(Mailer {
            transport: Transport::Smtp(transport),
            from: parse_mailbox(from)?,
            in_flight: tokio::sync::watch::Sender::new(0),
        })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let builder = Message::builder()
            .from(self.from.clone())
            .to(parse_mailbox(&mail.to)?)
            .subject(&mail.subject);
        let message = match &mail.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(mail.text.clone(), html.clone()))?,
            None => builder.singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(mail.text.clone()))?,
        };
        match &self.transport {
            Transport::Outbox(dir) => {
                // Named so that sorting the names gives the order they were
                // written in, even within one millisecond (this process's count).
                static WRITTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let count = WRITTEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let name = format!("{}-{count:010}-{}.eml", locus_store::now_millis(), locus_core::random_base62(8));
                // Written aside, then renamed: whoever reads the outbox never sees half a message.
                let partial = dir.join(format!("{name}.part"));
                tokio::fs::write(&partial, message.formatted()).await?;
                tokio::fs::rename(&partial, dir.join(&name)).await?;
                tracing::info!(to = %mail.to, subject = %mail.subject, file = %name, "mail written to the outbox");
            }
            Transport::Smtp(smtp) => {
                smtp.send(message).await?;
                tracing::info!(to = %mail.to, subject = %mail.subject, "mail sent over SMTP");
            }
        }
        Ok(())
    }

    /// Sends without making the caller wait; failures are logged. Used where
    /// the response must not depend on mail (and must not reveal by its timing
    /// whether a mail was sent at all).
    pub fn send_later(&self, mail: Mail) {
        let mailer = self.clone();
        // Counted before the response that queued it goes out, so that
        // [`Mailer::settled`] after a response sees it.
        self.in_flight.send_modify(|n| *n += 1);
        tokio::spawn(async move {
            if let Err(e) = mailer.send(&mail).await {
                tracing::error!(to = %mail.to, subject = %mail.subject, error = %e, "mail could not be sent");
            }
            mailer.in_flight.send_modify(|n| *n -= 1);
        });
    }

    /// Waits until every mail queued so far is sent (or failed): after it,
    /// the outbox holds every mail that earlier responses queued.
    pub async fn settled(&self) {
        let mut rx = self.in_flight.subscribe();
        // The sender lives in self, so the channel cannot close while we wait.
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

fn parse_mailbox(s: &str) -> Result<Mailbox, MailError> {
    s.parse().map_err(|_| MailError::Address(s.to_owned()))
}
