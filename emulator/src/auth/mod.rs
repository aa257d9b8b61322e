//! The auth stage: permissive by default (any signature is accepted, as most local emulators
//! do), or `--auth sigv4 --credentials FILE`, which verifies SigV4 signatures and bearer API
//! keys the way AWS does and answers what AWS answers.
//!
//! * [`credentials`] — the credential store (AWS shared-credentials INI format).
//! * [`sigv4`] — SigV4 verification, header and query-string forms.

pub mod credentials;
pub mod sigv4;

use std::time::SystemTime;

use subtle::ConstantTimeEq;

use crate::wire::error::{BedrockError, ErrorCode};
use credentials::CredentialStore;
use sigv4::SignedRequest;

/// How requests are authenticated.
#[derive(Debug, Clone, Default)]
pub enum AuthMode {
    /// Every request is accepted (the default).
    #[default]
    Permissive,
    /// Signatures and bearer keys are verified against the store.
    Verify(CredentialStore),
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header and no presigned query.
    Missing,
    /// An Authorization header or presigned query that is not complete SigV4.
    Incomplete(String),
    /// The access key id (or its session token) is not known.
    UnknownKey,
    /// The signature does not match.
    BadSignature,
    /// The request time is more than 5 minutes behind the server's.
    Expired {
        /// `X-Amz-Date` of the request.
        signed: String,
        /// The server's time minus 5 minutes.
        earliest: String,
        /// The server's time.
        now: String,
    },
    /// The request time is more than 5 minutes ahead of the server's.
    NotYetCurrent {
        /// `X-Amz-Date` of the request.
        signed: String,
        /// The server's time plus 5 minutes.
        latest: String,
        /// The server's time.
        now: String,
    },
    /// A presigned request past its `X-Amz-Expires`.
    PresignExpired,
    /// The session token's expiration has passed.
    ExpiredToken,
    /// A bearer key that is not known.
    BadApiKey,
}

impl From<AuthError> for BedrockError {
    fn from(e: AuthError) -> Self {
        // Messages as AWS's front end words them for every Coral service (the sources are in
        // README "Checking signatures").
        match e {
            AuthError::Missing => BedrockError::new(ErrorCode::MissingAuthenticationTokenException, "Missing Authentication Token"),
            AuthError::Incomplete(m) => BedrockError::new(ErrorCode::IncompleteSignatureException, m),
            AuthError::UnknownKey => BedrockError::new(
                ErrorCode::UnrecognizedClientException,
                "The security token included in the request is invalid.",
            ),
            AuthError::BadSignature => BedrockError::new(
                ErrorCode::InvalidSignatureException,
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ),
            AuthError::Expired { signed, earliest, now } => BedrockError::new(
                ErrorCode::InvalidSignatureException,
                format!("Signature expired: {signed} is now earlier than {earliest} ({now} - 5 min.)"),
            ),
            AuthError::NotYetCurrent { signed, latest, now } => BedrockError::new(
                ErrorCode::InvalidSignatureException,
                format!("Signature not yet current: {signed} is still later than {latest} ({now} + 5 min.)"),
            ),
            AuthError::PresignExpired => {
                BedrockError::new(ErrorCode::InvalidSignatureException, "Signature expired: the presigned request has expired.")
            }
            AuthError::ExpiredToken => {
                BedrockError::new(ErrorCode::ExpiredTokenException, "The security token included in the request is expired")
            }
            AuthError::BadApiKey => BedrockError::new(ErrorCode::AccessDeniedException, "Invalid API Key format: Must start with pre-defined prefix"),
        }
    }
}

impl AuthMode {
    /// Checks a request; `Ok(Some(region))` is the verified credential scope's region.
    pub fn check(&self, req: &SignedRequest<'_>, now: SystemTime) -> Result<Option<String>, AuthError> {
        let AuthMode::Verify(store) = self else { return Ok(None) };
        let bearer = req
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(key) = bearer {
            let known = store.api_keys.iter().any(|k| bool::from(k.as_bytes().ct_eq(key.trim().as_bytes())));
            return if known { Ok(None) } else { Err(AuthError::BadApiKey) };
        }
        sigv4::verify(store, req, now).map(|s| Some(s.region))
    }
}
