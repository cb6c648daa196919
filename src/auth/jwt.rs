//! JWT verification and signing, the RFC 8725 way: one algorithm pinned by configuration, `exp`
//! required, `nbf` honoured, `iss` and `aud` checked when configured, a small leeway.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::Role;
use crate::config::{ConfigError, JwtAlgorithm, JwtSettings};
use crate::domain::limits;

/// Shortest accepted HS256 secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// The claims of a staff token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub technician_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Set only on single-purpose tokens (survey links): such a token is never a staff token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// What a satisfaction survey link's token carries: one ticket, one purpose, an expiry.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SurveyClaims {
    pub purpose: String,
    pub ticket_id: i64,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

pub const SURVEY_PURPOSE: &str = "satisfaction_survey";

/// Why a token was refused. Only logged: the client is told "invalid token" and nothing more.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("token refused: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("cannot sign tokens: {0}")]
    CannotSign(&'static str),
    #[error("a single-purpose token ({0}) is not a staff token")]
    NotStaff(String),
    #[error("not a satisfaction survey token")]
    NotSurvey,
    /// RFC 7515 §4.1.11: extensions the server must understand, and it understands none.
    #[error("the header names critical extensions ({0:?}); none is supported")]
    CriticalHeader(Vec<String>),
    #[error("claim {claim}: {reason}")]
    Claim { claim: &'static str, reason: String },
    #[error("revoked: issued before its subject's tokens were revoked")]
    Revoked,
}

/// Refuses a token whose header has `crit`: jsonwebtoken ignores it, RFC 7515 says a recipient
/// that does not understand every extension listed must refuse the token, and an empty list is
/// invalid too.
fn refuse_critical_headers(token: &str) -> Result<(), TokenError> {
    match jsonwebtoken::decode_header(token)?.crit {
        Some(critical) => Err(TokenError::CriticalHeader(critical)),
        None => Ok(()),
    }
}

/// Refuses an `iat` further in the future than the clock skew allows: no issuer sends one.
fn issued_in_the_past(iat: i64) -> Result<(), TokenError> {
    let latest = Utc::now().timestamp().saturating_add(LEEWAY_SECONDS as i64);
    if iat > latest {
        return Err(TokenError::Claim { claim: "iat", reason: format!("{iat} is in the future") });
    }
    Ok(())
}

/// The keys and rules for verifying (and, when a signing key is configured, issuing) tokens.
pub struct TokenKeys {
    algorithm: Algorithm,
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    /// The same rules for survey tokens, which have no subject.
    survey_validation: Validation,
    issuer: Option<String>,
    audience: Option<String>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

fn read_pem(setting: &'static str, path: &std::path::Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|err| ConfigError::new(setting, format!("cannot read {}: {err}", path.display())))
}

impl TokenKeys {
    /// Builds the keys from settings, refusing anything ambiguous or weak.
    pub fn from_settings(settings: &JwtSettings) -> Result<Self, ConfigError> {
        let has_keys = settings.public_key.is_some() || settings.private_key.is_some();
        let algorithm = match (settings.algorithm, settings.secret.is_some(), has_keys) {
            (Some(algorithm), _, _) => algorithm,
            (None, true, false) => JwtAlgorithm::HS256,
            (None, false, true) => JwtAlgorithm::RS256,
            (None, true, true) => {
                return Err(ConfigError::new(
                    "DESKPULSE_JWT_ALGORITHM",
                    "both a secret and key files are configured: say which algorithm to accept (HS256 or RS256)",
                ));
            }
            (None, false, false) => {
                return Err(ConfigError::new(
                    "DESKPULSE_JWT_SECRET",
                    "no token key configured: set DESKPULSE_JWT_SECRET (HS256) or DESKPULSE_JWT_PUBLIC_KEY (RS256)",
                ));
            }
        };

        let (algorithm, decoding, encoding) = match algorithm {
            JwtAlgorithm::HS256 => {
                let secret = settings.secret.as_ref().ok_or_else(|| {
                    ConfigError::new("DESKPULSE_JWT_SECRET", "HS256 is configured but no secret is set")
                })?;
                let bytes = secret.expose().as_bytes();
                if bytes.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError::new(
                        "DESKPULSE_JWT_SECRET",
                        format!("must be at least {MIN_SECRET_BYTES} bytes long, got {}", bytes.len()),
                    ));
                }
                (Algorithm::HS256, DecodingKey::from_secret(bytes), Some(EncodingKey::from_secret(bytes)))
            }
            JwtAlgorithm::RS256 => {
                let public_path = settings.public_key.as_ref().ok_or_else(|| {
                    ConfigError::new("DESKPULSE_JWT_PUBLIC_KEY", "RS256 is configured but no public key file is set")
                })?;
                let public = read_pem("DESKPULSE_JWT_PUBLIC_KEY", public_path)?;
                let decoding = DecodingKey::from_rsa_pem(&public).map_err(|err| {
                    ConfigError::new("DESKPULSE_JWT_PUBLIC_KEY", format!("not an RSA public key: {err}"))
                })?;
                let encoding = match &settings.private_key {
                    Some(path) => {
                        let private = read_pem("DESKPULSE_JWT_PRIVATE_KEY", path)?;
                        Some(EncodingKey::from_rsa_pem(&private).map_err(|err| {
                            ConfigError::new("DESKPULSE_JWT_PRIVATE_KEY", format!("not an RSA private key: {err}"))
                        })?)
                    }
                    None => None,
                };
                (Algorithm::RS256, decoding, encoding)
            }
        };

        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub"]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &settings.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }

        let mut survey_validation = validation.clone();
        survey_validation.required_spec_claims.remove("sub");
        Ok(TokenKeys {
            algorithm,
            decoding,
            encoding,
            validation,
            survey_validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
        })
    }

    /// Verifies a staff token and returns its claims. Whether its subject's tokens were revoked
    /// is for the caller to check (http::access does, against the database).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        refuse_critical_headers(token)?;
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)?.claims;
        if let Some(purpose) = claims.purpose {
            return Err(TokenError::NotStaff(purpose));
        }
        limits::subject(&claims.sub).map_err(|reason| TokenError::Claim { claim: "sub", reason })?;
        issued_in_the_past(claims.iat)?;
        Ok(claims)
    }

    /// Signs a survey token for one ticket, valid for `ttl`.
    pub fn issue_survey(&self, ticket_id: i64, ttl: Duration) -> Result<(String, i64), TokenError> {
        let now = Utc::now().timestamp();
        let exp = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        let claims = SurveyClaims {
            purpose: SURVEY_PURPOSE.to_owned(),
            ticket_id,
            exp,
            iat: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok((self.sign(&claims)?, exp))
    }

    /// Verifies a survey token and returns the ticket it rates. Staff tokens are refused.
    pub fn verify_survey(&self, token: &str) -> Result<i64, TokenError> {
        refuse_critical_headers(token)?;
        let claims = jsonwebtoken::decode::<SurveyClaims>(token, &self.decoding, &self.survey_validation)?.claims;
        if claims.purpose != SURVEY_PURPOSE {
            return Err(TokenError::NotSurvey);
        }
        issued_in_the_past(claims.iat)?;
        Ok(claims.ticket_id)
    }

    /// Signs a staff token valid for `ttl` from now, carrying the configured issuer and audience.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        technician_id: Option<i64>,
        ttl: Duration,
    ) -> Result<String, TokenError> {
        let now = Utc::now().timestamp();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: subject.to_owned(),
            role,
            exp: now.saturating_add(ttl),
            iat: now,
            nbf: None,
            technician_id,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            purpose: None,
        };
        self.sign(&claims)
    }

    /// Signs any claims with the configured key (also used for single-purpose tokens).
    pub fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let key = self
            .encoding
            .as_ref()
            .ok_or(TokenError::CannotSign("RS256 needs DESKPULSE_JWT_PRIVATE_KEY to sign tokens"))?;
        Ok(jsonwebtoken::encode(&Header::new(self.algorithm), claims, key)?)
    }
}
