//! Which `req_attribute` (0x0A) names a Forward Request may carry: Tomcat's post-Ghostcat
//! allow-list, extended by configuration with exact names and prefixes (no regexes).

/// Names Tomcat always accepts (`AjpProcessor.prepareRequest`): the proxy facts, mod_jk's
/// activation state, the TLS attribute names of the Servlet API (javax and jakarta) and
/// the TLS names IIS's connector sends.
pub const ALWAYS_ALLOWED: [&str; 22] = [
    "AJP_LOCAL_ADDR",
    "AJP_REMOTE_PORT",
    "AJP_SSL_PROTOCOL",
    "JK_LB_ACTIVATION",
    "javax.servlet.request.cipher_suite",
    "javax.servlet.request.key_size",
    "javax.servlet.request.ssl_session",
    "javax.servlet.request.X509Certificate",
    "jakarta.servlet.request.secure_protocol",
    "jakarta.servlet.request.cipher_suite",
    "jakarta.servlet.request.key_size",
    "jakarta.servlet.request.ssl_session",
    "jakarta.servlet.request.X509Certificate",
    "CERT_ISSUER",
    "CERT_SUBJECT",
    "CERT_COOKIE",
    "HTTPS_SERVER_SUBJECT",
    "CERT_FLAGS",
    "HTTPS_SECRETKEYSIZE",
    "CERT_SERIALNUMBER",
    "HTTPS_SERVER_ISSUER",
    "HTTPS_KEYSIZE",
];

/// The configured allow-list: [`ALWAYS_ALLOWED`] plus exact names and prefixes.
#[derive(Clone, Debug, Default)]
pub(crate) struct AllowList {
    exact: Vec<Box<[u8]>>,
    prefixes: Vec<Box<[u8]>>,
}

impl AllowList {
    pub(crate) fn add_exact(&mut self, name: &str) {
        self.exact.push(name.as_bytes().into());
    }

    pub(crate) fn add_prefix(&mut self, prefix: &str) {
        self.prefixes.push(prefix.as_bytes().into());
    }

    /// Whether a `req_attribute` of this name is accepted (case-sensitive, as Tomcat).
    pub(crate) fn allows(&self, name: &[u8]) -> bool {
        ALWAYS_ALLOWED.iter().any(|n| n.as_bytes() == name)
            || self.exact.iter().any(|n| **n == *name)
            || self.prefixes.iter().any(|p| name.starts_with(p))
    }
}

/// Compares the secret a request carries with the configured one in time that depends only
/// on the configured secret's length (Tomcat 9.0.118 compares in constant time too).
pub(crate) fn secret_matches(configured: &[u8], offered: &[u8]) -> bool {
    let mut diff = configured.len() ^ offered.len();
    for (i, &c) in configured.iter().enumerate() {
        let o = offered.get(i).copied().unwrap_or(!c);
        diff |= usize::from(c ^ o);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tomcat_names_always_pass_others_need_config() {
        let mut a = AllowList::default();
        assert!(a.allows(b"AJP_REMOTE_PORT"));
        assert!(a.allows(b"jakarta.servlet.request.cipher_suite"));
        assert!(!a.allows(b"javax.servlet.include.request_uri"), "Ghostcat");
        assert!(!a.allows(b"ajp_remote_port"), "case-sensitive");
        assert!(!a.allows(b"MYATTRIBUTE1"));
        a.add_prefix("MYATTRIBUTE");
        a.add_exact("Shib-User");
        assert!(a.allows(b"MYATTRIBUTE1"));
        assert!(a.allows(b"Shib-User"));
        assert!(!a.allows(b"Shib-User2"));
    }

    #[test]
    fn secret_comparison() {
        assert!(secret_matches(b"s3cret", b"s3cret"));
        assert!(!secret_matches(b"s3cret", b"s3cre"));
        assert!(!secret_matches(b"s3cret", b"s3cret!"));
        assert!(!secret_matches(b"s3cret", b"S3cret"));
        assert!(!secret_matches(b"s3cret", b""));
        // A NUL-padded guess must not match a shorter secret.
        assert!(!secret_matches(b"ab", b"ab\0"));
    }
}
