//! Which servers `canopy` trusts over `wss://` and `https://`: the platform's root
//! certificates (rustls-native-certs) and, with `--ca-cert`, the certificates of a PEM
//! file (a private CA, or a server's self-signed certificate). TLS is rustls with ring,
//! as in the server. The roots are read on the first TLS connection only, so plain
//! `ws://` and `http://` use costs nothing.

use crate::error::CliError;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// The certificates trusted as roots, read when first needed.
#[derive(Debug, Default)]
pub struct Trust {
    /// `--ca-cert`: more roots, from a PEM file.
    ca_cert: Option<PathBuf>,
    roots: OnceLock<Result<Vec<CertificateDer<'static>>, String>>,
}

impl Trust {
    /// Trusts the platform's roots and, when given, the certificates in `ca_cert`.
    pub fn new(ca_cert: Option<&Path>) -> Arc<Self> {
        Arc::new(Self {
            ca_cert: ca_cert.map(Path::to_path_buf),
            roots: OnceLock::new(),
        })
    }

    /// The roots, read on first use: the platform's (unreadable ones are skipped, as a
    /// browser does) and `--ca-cert`'s (which must read).
    fn roots(&self) -> Result<&[CertificateDer<'static>], CliError> {
        let roots = self.roots.get_or_init(|| {
            let mut roots = rustls_native_certs::load_native_certs().certs;
            if let Some(path) = &self.ca_cert {
                let extra: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                    .and_then(Iterator::collect)
                    .map_err(|err| format!("--ca-cert {}: {err}", path.display()))?;
                if extra.is_empty() {
                    return Err(format!(
                        "--ca-cert {} holds no PEM certificate",
                        path.display()
                    ));
                }
                roots.extend(extra);
            }
            Ok(roots)
        });
        roots.as_deref().map_err(|why| CliError::Usage(why.clone()))
    }

    /// The rustls client config for `wss://`.
    pub fn rustls_config(&self) -> Result<Arc<ClientConfig>, CliError> {
        let mut store = RootCertStore::empty();
        // A platform root rustls cannot parse is skipped, not fatal.
        store.add_parsable_certificates(self.roots()?.iter().cloned());
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|err| CliError::Local(format!("TLS setup: {err}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// The ureq TLS config for `https://`.
    pub fn ureq_config(&self) -> Result<ureq::tls::TlsConfig, CliError> {
        let roots: Vec<ureq::tls::Certificate<'static>> = self
            .roots()?
            .iter()
            .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        Ok(ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::from(roots))
            .unversioned_rustls_crypto_provider(Arc::new(ring::default_provider()))
            .build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_name() -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").map_err(|err| err.to_string())?;
        let refused = Trust::new(Some(&empty)).rustls_config().err();
        let message = refused.map(|err| err.to_string()).unwrap_or_default();
        assert!(message.contains("empty.pem"), "{message}");
        let missing = Trust::new(Some(&dir.path().join("missing.pem")))
            .ureq_config()
            .err()
            .map(|err| err.to_string())
            .unwrap_or_default();
        assert!(missing.contains("missing.pem"), "{missing}");
        Ok(())
    }
}
