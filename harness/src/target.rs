//! Targets and SDK clients.

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::config::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Where the suite sends requests.
#[derive(Debug, Clone)]
pub enum Target {
    /// A bedrock-emulator at this endpoint URL (fixed test credentials, region us-east-1).
    Emulator {
        /// e.g. `http://127.0.0.1:4599`.
        endpoint: String,
    },
    /// Live AWS through the default credential chain.
    Aws {
        /// e.g. `us-east-1`.
        region: String,
    },
}

impl Target {
    /// Whether the target is the emulator (emulator-only cases run only then).
    pub fn is_emulator(&self) -> bool {
        matches!(self, Target::Emulator { .. })
    }

    /// A short label for reports.
    pub fn label(&self) -> String {
        match self {
            Target::Emulator { endpoint } => format!("emulator at {endpoint}"),
            Target::Aws { region } => format!("AWS {region}"),
        }
    }
}

/// The two SDK clients a suite uses.
#[derive(Debug, Clone)]
pub struct Clients {
    /// `bedrock-runtime`.
    pub runtime: aws_sdk_bedrockruntime::Client,
    /// `bedrock` (control plane).
    pub control: aws_sdk_bedrock::Client,
}

/// How a test (or tool) wants its clients for an emulator: whose credentials, how many
/// attempts (with ~no backoff, so retry tests stay fast), a read timeout, a skewed clock.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Access key id.
    pub key: String,
    /// Secret access key.
    pub secret: String,
    /// Session token.
    pub token: Option<String>,
    /// Region of the credential scope.
    pub region: String,
    /// Attempts per call (1: no retries).
    pub attempts: u32,
    /// HTTP read timeout.
    pub read_timeout: Option<std::time::Duration>,
    /// The clock the client signs with, when not the system's.
    pub clock: Option<std::time::SystemTime>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            key: "AKIDEMULATOR".into(),
            secret: "emulator-secret".into(),
            token: None,
            region: "us-east-1".into(),
            attempts: 1,
            read_timeout: None,
            clock: None,
        }
    }
}

/// Both clients for an emulator at `endpoint`, configured by `options`.
pub async fn emulator_clients(endpoint: &str, options: &ClientOptions) -> Clients {
    let http =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    let mut timeouts = aws_config::timeout::TimeoutConfig::builder().connect_timeout(std::time::Duration::from_secs(2));
    if let Some(t) = options.read_timeout {
        timeouts = timeouts.read_timeout(t);
    }
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(options.region.clone()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            options.key.clone(),
            options.secret.clone(),
            options.token.clone(),
            None,
            "bedrock-harness",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(options.attempts)
                .with_initial_backoff(std::time::Duration::from_millis(1))
                .with_max_backoff(std::time::Duration::from_millis(5)),
        )
        .timeout_config(timeouts.build());
    if let Some(at) = options.clock {
        loader = loader.time_source(aws_smithy_async::time::StaticTimeSource::new(at));
    }
    let shared = loader.load().await;
    Clients { runtime: aws_sdk_bedrockruntime::Client::new(&shared), control: aws_sdk_bedrock::Client::new(&shared) }
}

/// Builds both clients for `target`. The HTTP client is rustls with ring (the SDK's default
/// aws-lc stack is trimmed out to keep the build lean); it speaks plain HTTP to the emulator.
pub async fn clients(target: &Target) -> Clients {
    clients_with(target, None).await
}

/// Like [`clients`], with every response also handed to `capture` (parity snapshots).
pub async fn clients_with(target: &Target, capture: Option<crate::parity::Capture>) -> Clients {
    let http =
        aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    let loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    let shared = match target {
        Target::Emulator { endpoint } => {
            loader
                .region(Region::new("us-east-1"))
                .endpoint_url(endpoint.clone())
                .credentials_provider(Credentials::new(
                    "AKIDEMULATOR",
                    "emulator-secret",
                    None,
                    None,
                    "bedrock-harness",
                ))
                // One attempt: the emulator answers errors deterministically, and a retried
                // error would only hide what the case asserts.
                .retry_config(RetryConfig::standard().with_max_attempts(1))
                .load()
                .await
        }
        Target::Aws { region } => loader.region(Region::new(region.clone())).load().await,
    };
    let mut runtime = aws_sdk_bedrockruntime::config::Builder::from(&shared);
    let mut control = aws_sdk_bedrock::config::Builder::from(&shared);
    if let Some(c) = capture {
        runtime = runtime.interceptor(c.clone());
        control = control.interceptor(c);
    }
    Clients {
        runtime: aws_sdk_bedrockruntime::Client::from_conf(runtime.build()),
        control: aws_sdk_bedrock::Client::from_conf(control.build()),
    }
}
