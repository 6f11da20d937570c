//! Signed tokens: the session cookie, CSRF tokens and the short-lived credential that
//! `web` gives `app` and `crud` to prove which user a request acts for.
//!
//! Every token is `payload.signature`, the signature an HMAC-SHA256 over a purpose label
//! and the payload, so a token made for one purpose never verifies for another. A key ring
//! signs with its current key and verifies with the current and the previous one, so a
//! rotation signs nobody out.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;
use uuid::Uuid;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// How long a credential between tiers stays valid. Short: it is minted per request.
pub const CREDENTIAL_TTL_SECONDS: i64 = 60;

/// A symmetric signing key of at least 32 bytes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Key(Secret<Vec<u8>>);

impl Key {
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= 32).then(|| Self(Secret::new(bytes)))
    }

    pub fn generate() -> Self {
        Self(Secret::new(random_bytes(32)))
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.expose()
    }

    fn sign(&self, purpose: &str, payload: &str) -> Vec<u8> {
        let mut mac =
            HmacSha256::new_from_slice(self.bytes()).expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

/// The current key, which signs, and the previous one, which still verifies.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyRing {
    current: Key,
    previous: Option<Key>,
}

impl KeyRing {
    pub fn new(current: Key, previous: Option<Key>) -> Self {
        Self { current, previous }
    }

    /// A ring with one fresh random key, for tests.
    pub fn generate() -> Self {
        Self::new(Key::generate(), None)
    }

    /// `payload.signature`, signed with the current key.
    pub fn seal(&self, purpose: &str, payload: &str) -> String {
        let signature = URL_SAFE_NO_PAD.encode(self.current.sign(purpose, payload));
        format!("{payload}.{signature}")
    }

    /// The payload of a token sealed for `purpose` by any key of the ring.
    pub fn open<'a>(&self, purpose: &str, token: &'a str) -> Option<&'a str> {
        let (payload, signature) = token.rsplit_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let keys = std::iter::once(&self.current).chain(self.previous.as_ref());
        let mut valid = false;
        for key in keys {
            valid |= bool::from(key.sign(purpose, payload).ct_eq(&signature));
        }
        valid.then_some(payload)
    }
}

/// Random bytes from the operating system's generator.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A fresh random token of 256 bits, URL-safe.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(32))
}

/// What a store keeps instead of a session token: a leaked table opens no session.
pub fn token_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Constant-time equality for secrets compared against user input.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

const SESSION: &str = "matchlog session cookie v1";
const CSRF: &str = "matchlog csrf v1";
const CREDENTIAL: &str = "matchlog internal credential v1";

/// The session cookie's value: the opaque session token, signed so that `web` turns away
/// a forged cookie without asking `app`. It carries no username or user id.
pub fn seal_session(keys: &KeyRing, session_token: &str) -> String {
    keys.seal(SESSION, session_token)
}

/// The session token inside a cookie value, if the signature holds.
pub fn open_session<'a>(keys: &KeyRing, cookie: &'a str) -> Option<&'a str> {
    keys.open(SESSION, cookie)
        .filter(|token| is_token_shaped(token))
}

/// The CSRF token for forms shown within a session: derived from the session, so it needs
/// no storage and dies with the session.
pub fn csrf_for_session(keys: &KeyRing, session_token: &str) -> String {
    let signed = keys.seal(CSRF, session_token);
    signed
        .rsplit_once('.')
        .map(|(_, signature)| signature.to_string())
        .unwrap_or_default()
}

/// Whether `submitted` is the CSRF token of this session under any key of the ring.
pub fn check_session_csrf(keys: &KeyRing, session_token: &str, submitted: &str) -> bool {
    keys.open(CSRF, &format!("{session_token}.{submitted}"))
        .is_some()
}

fn is_token_shaped(token: &str) -> bool {
    (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What a credential between tiers asserts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user the request acts for; `None` for calls that act for nobody yet
    /// (sign-up, sign-in, resolving a session).
    pub sub: Option<Uuid>,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("the credential is malformed or its signature does not verify")]
    Invalid,
    #[error("the credential has expired")]
    Expired,
}

/// Mints a credential for `sub`, valid for [`CREDENTIAL_TTL_SECONDS`].
pub fn mint_credential(keys: &KeyRing, sub: Option<Uuid>, now: i64) -> String {
    let claims = Claims {
        sub,
        exp: now + CREDENTIAL_TTL_SECONDS,
    };
    let json = serde_json::to_vec(&claims).expect("claims serialise");
    keys.seal(CREDENTIAL, &URL_SAFE_NO_PAD.encode(json))
}

/// The claims of a credential minted by a key of the ring and not yet expired.
pub fn verify_credential(keys: &KeyRing, token: &str, now: i64) -> Result<Claims, CredentialError> {
    let payload = keys
        .open(CREDENTIAL, token)
        .ok_or(CredentialError::Invalid)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| CredentialError::Invalid)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| CredentialError::Invalid)?;
    if claims.exp <= now {
        return Err(CredentialError::Expired);
    }
    Ok(claims)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_session_opens_only_with_its_key_and_unaltered() {
        let keys = KeyRing::generate();
        let token = random_token();
        let cookie = seal_session(&keys, &token);
        assert_eq!(open_session(&keys, &cookie), Some(token.as_str()));
        assert_eq!(open_session(&KeyRing::generate(), &cookie), None);
        let mut altered = cookie.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            open_session(&keys, std::str::from_utf8(&altered).unwrap()),
            None
        );
        assert_eq!(open_session(&keys, "admin"), None);
        assert_eq!(open_session(&keys, ""), None);
        assert_eq!(open_session(&keys, "."), None);
    }

    #[test]
    fn tokens_for_one_purpose_do_not_verify_for_another() {
        let keys = KeyRing::generate();
        let token = random_token();
        let csrf = csrf_for_session(&keys, &token);
        assert!(check_session_csrf(&keys, &token, &csrf));
        assert!(!check_session_csrf(&keys, &random_token(), &csrf));
        let cookie = seal_session(&keys, &token);
        let (_, cookie_signature) = cookie.rsplit_once('.').unwrap();
        assert!(!check_session_csrf(&keys, &token, cookie_signature));
    }

    #[test]
    fn the_previous_key_still_verifies_after_a_rotation() {
        let old = KeyRing::generate();
        let cookie = seal_session(&old, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        let rotated = KeyRing::new(Key::generate(), Some(old.current.clone()));
        assert!(open_session(&rotated, &cookie).is_some());
        let retired = KeyRing::new(Key::generate(), None);
        assert!(open_session(&retired, &cookie).is_none());
    }

    #[test]
    fn credentials_expire_and_refuse_forgery() {
        let keys = KeyRing::generate();
        let user = Uuid::new_v4();
        let token = mint_credential(&keys, Some(user), 1_000);
        assert_eq!(
            verify_credential(&keys, &token, 1_000).unwrap().sub,
            Some(user)
        );
        assert_eq!(
            verify_credential(&keys, &token, 1_060),
            Err(CredentialError::Expired)
        );
        assert_eq!(
            verify_credential(&KeyRing::generate(), &token, 1_000),
            Err(CredentialError::Invalid)
        );
        let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":null,"exp":99999999999}"#);
        let (_, signature) = token.rsplit_once('.').unwrap();
        let forged = format!("{forged_claims}.{signature}");
        assert_eq!(
            verify_credential(&keys, &forged, 1_000),
            Err(CredentialError::Invalid)
        );
    }

    #[test]
    fn digests_are_stable_hex() {
        assert_eq!(token_digest("abc").len(), 64);
        assert_eq!(token_digest("abc"), token_digest("abc"));
        assert_ne!(token_digest("abc"), token_digest("abd"));
    }
}
