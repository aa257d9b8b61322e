//! The credential store of `--auth sigv4 --credentials FILE`: the AWS shared-credentials INI
//! format (`[profile]` sections with `aws_access_key_id`, `aws_secret_access_key`, optional
//! `aws_session_token`), plus two keys of the emulator's: `bedrock_api_key` (a bearer key
//! accepted as `Authorization: Bearer …`) and `expiration` (RFC 3339; after it the session
//! token is expired).

use std::path::Path;
use std::time::SystemTime;

use crate::scenario::format::LoadError;

/// One identity.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// The `[section]` it came from.
    pub profile: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token the requests must carry (temporary credentials).
    pub session_token: Option<String>,
    /// When the session token expires.
    pub expiration: Option<SystemTime>,
    /// The account its requests belong to (`aws_account_id`), when not the default.
    pub account_id: Option<String>,
}

impl std::fmt::Debug for Identity {
    // Secrets stay out of logs and panic messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("profile", &self.profile)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Every identity and bearer key of a credentials file.
#[derive(Clone, Default)]
pub struct CredentialStore {
    /// SigV4 identities.
    pub identities: Vec<Identity>,
    /// Accepted `Authorization: Bearer` keys.
    pub api_keys: Vec<String>,
}

impl std::fmt::Debug for CredentialStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialStore")
            .field("identities", &self.identities)
            .field("api_keys", &self.api_keys.len())
            .finish()
    }
}

fn located(file: &str, line: usize, message: String) -> LoadError {
    LoadError { file: file.to_string(), line: Some(line), column: Some(1), message: format!("line {line}: {message}") }
}

fn parse_time(value: &str) -> Option<SystemTime> {
    let t = aws_smithy_types::DateTime::from_str(value, aws_smithy_types::date_time::Format::DateTime).ok()?;
    SystemTime::try_from(t).ok()
}

impl CredentialStore {
    /// Reads a credentials file.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let text = crate::scenario::document::read_bounded(path, crate::scenario::document::MAX_DOCUMENT_BYTES)?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses credentials-file text; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Self, LoadError> {
        #[derive(Default)]
        struct Section {
            name: String,
            line: usize,
            key: Option<String>,
            secret: Option<String>,
            token: Option<String>,
            expiration: Option<SystemTime>,
            api_key: Option<String>,
            account: Option<String>,
        }
        let mut sections: Vec<Section> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
                continue;
            }
            if let Some(name) = l.strip_prefix('[') {
                let name = name
                    .strip_suffix(']')
                    .ok_or_else(|| located(source, line, format!("section header `{l}` has no closing `]`")))?;
                sections.push(Section { name: name.trim().to_string(), line, ..Section::default() });
                continue;
            }
            let (key, value) = l
                .split_once('=')
                .ok_or_else(|| located(source, line, format!("expected `key = value` or `[profile]`, got `{l}`")))?;
            let section = sections
                .last_mut()
                .ok_or_else(|| located(source, line, "a key before any `[profile]` section".to_string()))?;
            let value = value.trim().to_string();
            match key.trim() {
                "aws_access_key_id" => section.key = Some(value),
                "aws_secret_access_key" => section.secret = Some(value),
                "aws_session_token" => section.token = Some(value),
                "bedrock_api_key" => section.api_key = Some(value),
                "aws_account_id" => {
                    if !crate::backend::state::is_account_id(&value) {
                        return Err(located(
                            source,
                            line,
                            format!("`aws_account_id` must be twelve digits (got `{value}`)"),
                        ));
                    }
                    section.account = Some(value);
                }
                "expiration" => {
                    section.expiration = Some(parse_time(&value).ok_or_else(|| {
                        located(
                            source,
                            line,
                            format!(
                                "`expiration` must be an RFC 3339 time such as 2030-01-01T00:00:00Z (got `{value}`)"
                            ),
                        )
                    })?)
                }
                // Other keys of the AWS format (region, output, …) do not matter here.
                _ => {}
            }
        }
        let mut store = CredentialStore::default();
        for s in sections {
            if let Some(k) = s.api_key {
                store.api_keys.push(k);
            }
            match (s.key, s.secret) {
                (Some(access_key_id), Some(secret_access_key)) => store.identities.push(Identity {
                    profile: s.name,
                    access_key_id,
                    secret_access_key,
                    session_token: s.token,
                    expiration: s.expiration,
                    account_id: s.account,
                }),
                (None, None) if s.account.is_some() => {
                    return Err(located(
                        source,
                        s.line,
                        format!(
                            "profile [{}] has aws_account_id but no aws_access_key_id: accounts go by access key",
                            s.name
                        ),
                    ))
                }
                (None, None) => {}
                _ => {
                    return Err(located(
                        source,
                        s.line,
                        format!("profile [{}] needs both aws_access_key_id and aws_secret_access_key", s.name),
                    ))
                }
            }
        }
        if store.identities.is_empty() && store.api_keys.is_empty() {
            return Err(LoadError {
                file: source.to_string(),
                line: None,
                column: None,
                message: "no credentials: give at least one profile with aws_access_key_id and aws_secret_access_key, or a bedrock_api_key".into(),
            });
        }
        Ok(store)
    }

    /// The identity of an access key id.
    pub fn identity(&self, access_key_id: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.access_key_id == access_key_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_keys_tokens_and_api_keys_are_read() {
        let store = CredentialStore::parse(
            "creds",
            "# test\n[default]\naws_access_key_id = AKIDA\naws_secret_access_key = secretA\nregion = us-east-1\n\n[temp]\naws_access_key_id=ASIAB\naws_secret_access_key=secretB\naws_session_token=tok\nexpiration=2030-01-01T00:00:00Z\n[keys]\nbedrock_api_key = bedrock-api-key-xyz\n",
        )
        .expect("valid");
        assert_eq!(store.identities.len(), 2);
        assert_eq!(store.identity("ASIAB").and_then(|i| i.session_token.clone()).as_deref(), Some("tok"));
        assert!(store.identity("ASIAB").and_then(|i| i.expiration).is_some());
        assert_eq!(store.api_keys, vec!["bedrock-api-key-xyz".to_string()]);
    }

    #[test]
    fn bad_files_are_refused_with_their_line() {
        let err = |t: &str| CredentialStore::parse("creds", t).map(|_| ()).expect_err("refused").to_string();
        assert_eq!(err("aws_access_key_id = x\n"), "creds: line 1: a key before any `[profile]` section");
        assert_eq!(err("[a\n"), "creds: line 1: section header `[a` has no closing `]`");
        assert_eq!(
            err("[a]\naws_access_key_id = x\n"),
            "creds: line 1: profile [a] needs both aws_access_key_id and aws_secret_access_key"
        );
        assert!(err("[a]\n").contains("no credentials"));
        assert!(err("[a]\naws_access_key_id=x\naws_secret_access_key=y\nexpiration=soon\n").contains("RFC 3339"));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let store = CredentialStore::parse(
            "c",
            "[a]\naws_access_key_id=AKID\naws_secret_access_key=topsecret\nbedrock_api_key=k123\n",
        )
        .expect("valid");
        let shown = format!("{store:?}");
        assert!(!shown.contains("topsecret") && !shown.contains("k123"), "{shown}");
    }
}
