//! Trust: which certificates lcu-rules accepts from the client. The default trusts exactly one
//! root, Riot's, embedded in the binary; `--ca` adds an explicit extra root (how the simulated
//! client is trusted). Verification is never switched off silently: `--insecure` exists only as a
//! loud escape hatch. HTTP (reqwest) and the websocket (rustls) share one configuration per
//! connection, with the certificate policy of [`crate::client::verifier`].

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::client::verifier::PinnedVerifier;

/// Riot's root certificate, "LoL Game Engineering Certificate Authority".
pub const RIOT_ROOT_PEM: &[u8] = include_bytes!("../../certs/riotgames.pem");

/// Why a trust setting could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A CA file could not be read.
    #[error("cannot read the CA file `{path}`: {reason}")]
    CaFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// PEM text without a certificate, or a certificate rustls refuses as a root.
    #[error("invalid CA certificate{source_name}: {reason}")]
    Certificate {
        /// Where it came from, for the message.
        source_name: String,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTPS client: {0}")]
    Client(String),
}

/// Installs the `ring` crypto provider as rustls' process default. Safe to call many times.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How the client's certificate is checked.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The chain must lead to one of these roots, and name 127.0.0.1.
    Pinned(Vec<CertificateDer<'static>>),
    /// Nothing is checked. Logged loudly on every connect.
    Insecure,
}

impl Trust {
    /// Riot's root only.
    pub fn riot() -> Trust {
        Trust::Pinned(parse_pem(RIOT_ROOT_PEM, "").unwrap_or_default())
    }

    /// Riot's root plus the certificates of a PEM file.
    pub fn riot_and_file(path: &Path) -> Result<Trust, TlsError> {
        let pem = std::fs::read(path).map_err(|e| TlsError::CaFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Trust::riot().with_pem(&pem, &format!(" in `{}`", path.display()))
    }

    /// This trust plus the certificates of PEM text.
    pub(crate) fn with_pem(self, pem: &[u8], source_name: &str) -> Result<Trust, TlsError> {
        match self {
            Trust::Pinned(mut roots) => {
                roots.extend(parse_pem(pem, source_name)?);
                Ok(Trust::Pinned(roots))
            }
            Trust::Insecure => Ok(Trust::Insecure),
        }
    }

    /// The TLS configuration of one connection to the client, for HTTPS and the websocket alike
    /// (ALPN `http/1.1`): the pinned roots under the policy of [`PinnedVerifier`].
    pub fn rustls_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Client(e.to_string()))?;
        let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match self {
            Trust::Pinned(roots) => {
                let mut store = rustls::RootCertStore::empty();
                for root in roots {
                    store.add(root.clone()).map_err(|e| TlsError::Certificate {
                        source_name: String::new(),
                        reason: e.to_string(),
                    })?;
                }
                let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::new(store),
                    provider,
                )
                .build()
                .map_err(|e| TlsError::Client(e.to_string()))?;
                Arc::new(PinnedVerifier::new(webpki))
            }
            Trust::Insecure => Arc::new(insecure::AcceptAnything::new()),
        };
        let mut config = builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Applies a configuration from [`Trust::rustls_config`] to a reqwest builder: the operating
    /// system's roots are never consulted.
    pub(crate) fn apply(
        builder: reqwest::ClientBuilder,
        config: &rustls::ClientConfig,
    ) -> reqwest::ClientBuilder {
        builder.tls_backend_preconfigured(config.clone())
    }

    /// Whether verification is off.
    pub(crate) fn is_insecure(&self) -> bool {
        matches!(self, Trust::Insecure)
    }
}

fn parse_pem(pem: &[u8], source_name: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Certificate {
            source_name: source_name.to_string(),
            reason: "no `BEGIN CERTIFICATE` block found".into(),
        });
    }
    Ok(certs)
}

mod insecure {
    //! The `--insecure` verifier: accepts any certificate. Exists only behind an explicit flag.

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{
        WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
    };
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub(super) struct AcceptAnything {
        algorithms: WebPkiSupportedAlgorithms,
    }

    impl AcceptAnything {
        pub(super) fn new() -> AcceptAnything {
            AcceptAnything {
                algorithms: rustls::crypto::ring::default_provider()
                    .signature_verification_algorithms,
            }
        }
    }

    impl ServerCertVerifier for AcceptAnything {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// The embedded root is Riot's, byte for byte the certificate with the published fingerprint.
    #[test]
    fn embedded_root_has_riots_fingerprint() {
        let Trust::Pinned(roots) = Trust::riot() else {
            panic!("pinned")
        };
        assert_eq!(roots.len(), 1);
        let digest = Sha256::digest(roots[0].as_ref());
        let fingerprint = digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(
            fingerprint,
            "CA:8C:9D:32:5B:4C:DC:46:4C:6C:94:A5:85:C8:5E:91:EC:23:D4:0B:A5:BF:3A:E2:82:2B:95:1A:4A:50:4E:A3"
        );
    }

    /// Riot's old v1 root is accepted by rustls as a trust anchor.
    #[test]
    fn rustls_accepts_the_root() {
        install_crypto_provider();
        assert!(Trust::riot().rustls_config().is_ok());
    }

    /// A CA file without certificates is refused with a clear message.
    #[test]
    fn bad_ca_text_is_refused() {
        let error = Trust::riot().with_pem(b"hello", " in `x.pem`").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("no `BEGIN CERTIFICATE` block found"),
            "{error}"
        );
    }
}
