//! Sending mail over SMTP, the one place that does: alarm email
//! (`alarm::notify`) and scheduled reports (`report::schedule`) both build a
//! [`Mail`] and call [`send`] with the receiver's `EmailConfig`.

use std::time::Duration;

use lettre::message::header::{ContentType, ContentTypeErr};
use lettre::message::{Attachment as Part, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::alarm::config::EmailConfig;

/// How long one SMTP exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);

/// One message: a plain text, optionally an HTML alternative and attachments.
#[derive(Debug, Clone, PartialEq)]
pub struct Mail {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
}

/// A file sent with a [`Mail`] (a report's CSV).
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub name: String,
    /// A MIME type, e.g. `text/csv; charset=utf-8`.
    pub content_type: String,
    pub body: String,
}

impl Mail {
    /// A plain-text message.
    pub fn text(subject: impl Into<String>, text: impl Into<String>) -> Mail {
        Mail { subject: subject.into(), text: text.into(), html: None, attachments: Vec::new() }
    }
}

/// Why a message was not sent; the kinds a caller may tell apart (an
/// address or a message it built, or the server).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("from")]
    From(#[source] lettre::address::AddressError),
    #[error("to {to}")]
    To {
        to: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error(transparent)]
    ContentType(ContentTypeErr),
    #[error(transparent)]
    Build(lettre::error::Error),
    #[error(transparent)]
    Relay(lettre::transport::smtp::Error),
    #[error("SMTP {host}")]
    Smtp {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// Whether `s` is an address a message can be sent from or to
/// (`Name <user@host>` or `user@host`).
pub fn valid_address(s: &str) -> bool {
    s.parse::<lettre::message::Mailbox>().is_ok()
}

/// Sends `mail` with the server, sender and recipients of `cfg`.
pub async fn send(cfg: &EmailConfig, mail: Mail) -> Result<(), MailError> {
    let msg = message(cfg, mail)?;
    transport(cfg)?.send(msg).await.map(|_| ()).map_err(|source| MailError::Smtp { host: cfg.host.clone(), source })
}

fn message(cfg: &EmailConfig, mail: Mail) -> Result<lettre::Message, MailError> {
    let mut m = lettre::Message::builder().from(cfg.from.parse().map_err(MailError::From)?).subject(mail.subject);
    for to in &cfg.to {
        m = m.to(to.parse().map_err(|source| MailError::To { to: to.clone(), source })?);
    }
    let built = match (mail.html, mail.attachments.is_empty()) {
        (None, true) => m.header(ContentType::TEXT_PLAIN).body(mail.text),
        (html, _) => {
            let mut body = match html {
                Some(h) => MultiPart::mixed().multipart(MultiPart::alternative_plain_html(mail.text, h)),
                None => MultiPart::mixed().singlepart(lettre::message::SinglePart::plain(mail.text)),
            };
            for a in mail.attachments {
                let ct = ContentType::parse(&a.content_type).map_err(MailError::ContentType)?;
                body = body.singlepart(Part::new(a.name).body(a.body, ct));
            }
            m.multipart(body)
        }
    };
    built.map_err(MailError::Build)
}

fn transport(cfg: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    type Smtp = AsyncSmtpTransport<Tokio1Executor>;
    let builder = match cfg.tls.as_str() {
        "tls" => Smtp::relay(&cfg.host).map_err(MailError::Relay)?.port(cfg.port.unwrap_or(465)),
        "none" => Smtp::builder_dangerous(&cfg.host).port(cfg.port.unwrap_or(25)),
        _ => Smtp::starttls_relay(&cfg.host).map_err(MailError::Relay)?.port(cfg.port.unwrap_or(587)),
    };
    let builder = match (&cfg.username, &cfg.password) {
        (Some(u), Some(pw)) => builder.credentials(Credentials::new(u.clone(), pw.clone())),
        _ => builder,
    };
    Ok(builder.timeout(Some(TIMEOUT)).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(from: &str, to: &[&str]) -> EmailConfig {
        EmailConfig {
            host: "127.0.0.1".into(),
            port: Some(1),
            tls: "none".into(),
            username: None,
            password: None,
            from: from.into(),
            to: to.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_bad_address_is_named_with_its_cause() {
        let e = message(&cfg("nobody", &["a@b.c"]), Mail::text("s", "t")).unwrap_err();
        assert!(matches!(e, MailError::From(_)));
        assert_eq!(dcwatch_common::write::error_chain(&e), "from: Invalid input");
        let e = message(&cfg("a@b.c", &["ok@b.c", "x"]), Mail::text("s", "t")).unwrap_err();
        assert_eq!(dcwatch_common::write::error_chain(&e), "to x: Invalid input");
    }

    #[test]
    fn a_report_is_text_and_html_with_its_attachment() {
        let mail = Mail {
            subject: "r".into(),
            text: "plain words".into(),
            html: Some("<p>html words</p>".into()),
            attachments: vec![Attachment {
                name: "r.csv".into(),
                content_type: "text/csv; charset=utf-8".into(),
                body: "a,b\n".into(),
            }],
        };
        let m = String::from_utf8(message(&cfg("a@b.c", &["d@e.f"]), mail).unwrap().formatted()).unwrap();
        assert!(m.contains("Content-Type: multipart/mixed"), "{m}");
        assert!(m.contains("Content-Type: multipart/alternative"), "{m}");
        assert!(m.contains("plain words") && m.contains("<p>html words</p>"), "{m}");
        assert!(m.contains("Content-Disposition: attachment; filename=\"r.csv\""), "{m}");
        assert!(m.contains("Content-Type: text/csv; charset=utf-8"), "{m}");
    }

    #[test]
    fn an_alarm_is_one_plain_part() {
        let m = String::from_utf8(message(&cfg("a@b.c", &["d@e.f"]), Mail::text("s", "body")).unwrap().formatted())
            .unwrap();
        assert!(m.contains("Content-Type: text/plain; charset=utf-8"), "{m}");
        assert!(!m.contains("multipart"), "{m}");
    }
}
