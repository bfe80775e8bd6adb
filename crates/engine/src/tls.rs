//! TLS for what a call connects to (the signaling server over `wss://`, TURN servers over `turns:`): the
//! usual web roots (Mozilla's, which the signaling client trusts by default) and any the user added, e.g. a
//! server with a private CA (`tincan-cli --ca-file`).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::{EngineError, Result};

/// A client configuration trusting the web roots and `extra_roots`, offering `alpn`.
pub fn client_config(extra_roots: &[CertificateDer<'static>], alpn: &[&[u8]]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    for root in extra_roots {
        roots.add(root.clone()).map_err(|e| EngineError::Invalid(format!("a trusted certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The certificates of a PEM file, to trust as roots. A file without one is an error that says so.
pub fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    roots_from_pem(&std::fs::read(path)?).map_err(|e| EngineError::Invalid(format!("{}: {e}", path.display())))
}

/// The certificates in PEM text.
pub fn roots_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let roots = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| EngineError::Invalid(format!("not a PEM certificate file ({e})")))?;
    if roots.is_empty() {
        return Err(EngineError::Invalid("no certificate in it".into()));
    }
    Ok(roots)
}
