//! The certificate policy for the client's TLS, one verifier for HTTPS and the websocket.
//!
//! The chain must verify cryptographically to a pinned root (Riot's, and any added with `--ca`):
//! an unknown issuer, a bad signature or a malformed certificate is refused. A leaf whose only
//! fault is its validity period is accepted, with one warning, by verifying the same chain at a
//! moment inside that period: Riot's leaf expired on 2026-01-04 and every tool that verified
//! strictly stopped working for every player until it shipped a change, and a PC's clock that is
//! off must not stop a program that talks only to loopback. The name must be a subjectAltName of
//! IP `127.0.0.1` or DNS `localhost` (webpki never reads the CN). Each refusal names its reason in
//! words that do not change between retries. SECURITY.md gives the reasoning.
//!
//! rustls' `WebPkiServerVerifier` does the verifying; this wrapper only decides which time and
//! which name it verifies against, so no cryptography is written here.
//!
//! May use: [`crate::event`] (date text). Must never: accept a chain that does not verify to a
//! pinned root.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Why a certificate was refused, in words a player can act on (the same on every retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The chain does not lead to a pinned root.
    #[error(
        "the client's certificate is not signed by a trusted root (unknown issuer): this is not the League client, or `--ca` names the wrong file"
    )]
    UnknownIssuer,
    /// A signature in the chain does not verify.
    #[error("the client's certificate has a bad signature")]
    BadSignature,
    /// The certificate names neither 127.0.0.1 nor localhost.
    #[error(
        "the client's certificate is not for 127.0.0.1 or localhost (wrong name; only its subjectAltName counts)"
    )]
    WrongName,
    /// The certificate could not be read.
    #[error("the client's certificate is malformed")]
    Malformed,
    /// Any other reason rustls gives.
    #[error("the client's certificate was refused")]
    Other,
}

/// The policy above, over rustls' verifier for the pinned roots.
#[derive(Debug)]
pub(crate) struct PinnedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// Whether the validity warning was logged on this connection already.
    warned: AtomicBool,
}

impl PinnedVerifier {
    /// A verifier over rustls' own for `roots`.
    pub(crate) fn new(inner: Arc<WebPkiServerVerifier>) -> PinnedVerifier {
        PinnedVerifier {
            inner,
            warned: AtomicBool::new(false),
        }
    }

    /// Verifies for one name, at `now` or, when only the validity period fails, inside it.
    fn verify_for(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let first = self
            .inner
            .verify_server_cert(end_entity, intermediates, name, ocsp, now);
        let (inside, what) = match &first {
            Err(Error::InvalidCertificate(CertificateError::ExpiredContext {
                not_after, ..
            })) => (
                UnixTime::since_unix_epoch(Duration::from_secs(
                    not_after.as_secs().saturating_sub(1),
                )),
                format!("expired on {}", date(*not_after)),
            ),
            Err(Error::InvalidCertificate(CertificateError::NotValidYetContext {
                not_before,
                ..
            })) => (
                UnixTime::since_unix_epoch(Duration::from_secs(not_before.as_secs() + 1)),
                format!(
                    "is valid only from {} (is this PC's clock right?)",
                    date(*not_before)
                ),
            ),
            _ => return first,
        };
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, name, ocsp, inside)?;
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "the client's certificate {what}; accepted because it is signed by a pinned root"
            );
        }
        Ok(verified)
    }
}

/// The names the client's certificate may carry, in the order tried.
fn accepted_names() -> impl Iterator<Item = ServerName<'static>> {
    let ip = ServerName::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST).into());
    std::iter::once(ip).chain(ServerName::try_from("localhost").ok())
}

fn is_name_error(error: &Error) -> bool {
    matches!(
        error,
        Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

/// The refusal for a rustls error.
pub(crate) fn refusal_of(error: &Error) -> Refusal {
    match error {
        Error::InvalidCertificate(certificate) => match certificate {
            CertificateError::UnknownIssuer => Refusal::UnknownIssuer,
            CertificateError::BadSignature => Refusal::BadSignature,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Refusal::WrongName
            }
            CertificateError::BadEncoding => Refusal::Malformed,
            _ => Refusal::Other,
        },
        _ => Refusal::Other,
    }
}

/// The refusal inside an error that came out of a TLS handshake (a rustls error, or an IO error
/// wrapping one), if the certificate was the reason.
pub(crate) fn find_refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    if let Some(refusal) = error.downcast_ref::<Refusal>() {
        return Some(*refusal);
    }
    if let Some(Error::InvalidCertificate(CertificateError::Other(OtherError(inner)))) =
        error.downcast_ref::<Error>()
    {
        return inner.downcast_ref::<Refusal>().copied();
    }
    if let Some(Error::InvalidCertificate(_)) = error.downcast_ref::<Error>() {
        return error.downcast_ref::<Error>().map(refusal_of);
    }
    if let Some(io) = error.downcast_ref::<std::io::Error>() {
        return io.get_ref().and_then(|inner| find_refusal(inner));
    }
    None
}

fn refuse(error: &Error) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(refusal_of(
        error,
    )))))
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // The connection always goes to 127.0.0.1, whatever name the caller passed.
        let mut last = None;
        for name in accepted_names() {
            match self.verify_for(end_entity, intermediates, &name, ocsp, now) {
                Ok(verified) => return Ok(verified),
                Err(error) if is_name_error(&error) => last = Some(error),
                Err(error) => return Err(refuse(&error)),
            }
        }
        Err(refuse(&last.unwrap_or(Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `YYYY-MM-DD` of a certificate time.
fn date(time: UnixTime) -> String {
    let ms = i64::try_from(time.as_secs()).unwrap_or(i64::MAX / 1000) * 1000;
    let text = crate::event::recorded::format_rfc3339_ms(ms);
    text.get(..10).unwrap_or(&text).to_string()
}
