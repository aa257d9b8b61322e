//! AWS-shaped errors: the modelled exception names of both services and their HTTP statuses.
//!
//! Every failure a client can observe is a [`BedrockError`]; the wire encoder turns it into a
//! restJson1 error response (`x-amzn-ErrorType` header + `{"message": …}` body) or, inside an
//! event stream, into an `exception` frame with the lower-camel `:exception-type`.

use serde_json::{json, Map, Value};

/// The modelled exception types of `bedrock` and `bedrock-runtime` (SPEC §2.3), plus the two
/// unmodelled codes the emulator needs for requests that never reach an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400, not retried.
    ValidationException,
    /// 403.
    AccessDeniedException,
    /// 404.
    ResourceNotFoundException,
    /// 400.
    ConflictException,
    /// 400.
    ServiceQuotaExceededException,
    /// 400 (control plane).
    ResourceInUseException,
    /// 400 (control plane), carries `resourceName`.
    TooManyTagsException,
    /// 429, retried by every SDK.
    ThrottlingException,
    /// 429 (runtime), retryable.
    ModelNotReadyException,
    /// 408 (runtime).
    ModelTimeoutException,
    /// 424 (runtime), carries `originalStatusCode` and `resourceName`.
    ModelErrorException,
    /// 424 (runtime streams), carries `originalStatusCode` and `originalMessage`.
    ModelStreamErrorException,
    /// 500, retried.
    InternalServerException,
    /// 503, retried.
    ServiceUnavailableException,
    /// 404 for a path that matches no operation of either service (not modelled; SDKs surface
    /// it as a generic error with this code).
    UnknownOperationException,
    /// 403: the access key id or session token is not known (AWS's front end, every service).
    UnrecognizedClientException,
    /// 403: the SigV4 signature does not match, or the request time is skewed.
    InvalidSignatureException,
    /// 403: the session token has expired.
    ExpiredTokenException,
    /// 400: an Authorization header that is not complete SigV4.
    IncompleteSignatureException,
}

impl ErrorCode {
    /// Every code, for parsers of user-written error names.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::ValidationException,
        ErrorCode::AccessDeniedException,
        ErrorCode::ResourceNotFoundException,
        ErrorCode::ConflictException,
        ErrorCode::ServiceQuotaExceededException,
        ErrorCode::ResourceInUseException,
        ErrorCode::TooManyTagsException,
        ErrorCode::ThrottlingException,
        ErrorCode::ModelNotReadyException,
        ErrorCode::ModelTimeoutException,
        ErrorCode::ModelErrorException,
        ErrorCode::ModelStreamErrorException,
        ErrorCode::InternalServerException,
        ErrorCode::ServiceUnavailableException,
        ErrorCode::UnknownOperationException,
        ErrorCode::UnrecognizedClientException,
        ErrorCode::InvalidSignatureException,
        ErrorCode::ExpiredTokenException,
        ErrorCode::IncompleteSignatureException,
    ];

    /// The shape name, as sent in `x-amzn-ErrorType`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::ValidationException => "ValidationException",
            ErrorCode::AccessDeniedException => "AccessDeniedException",
            ErrorCode::ResourceNotFoundException => "ResourceNotFoundException",
            ErrorCode::ConflictException => "ConflictException",
            ErrorCode::ServiceQuotaExceededException => "ServiceQuotaExceededException",
            ErrorCode::ResourceInUseException => "ResourceInUseException",
            ErrorCode::TooManyTagsException => "TooManyTagsException",
            ErrorCode::ThrottlingException => "ThrottlingException",
            ErrorCode::ModelNotReadyException => "ModelNotReadyException",
            ErrorCode::ModelTimeoutException => "ModelTimeoutException",
            ErrorCode::ModelErrorException => "ModelErrorException",
            ErrorCode::ModelStreamErrorException => "ModelStreamErrorException",
            ErrorCode::InternalServerException => "InternalServerException",
            ErrorCode::ServiceUnavailableException => "ServiceUnavailableException",
            ErrorCode::UnknownOperationException => "UnknownOperationException",
            ErrorCode::UnrecognizedClientException => "UnrecognizedClientException",
            ErrorCode::InvalidSignatureException => "InvalidSignatureException",
            ErrorCode::ExpiredTokenException => "ExpiredTokenException",
            ErrorCode::IncompleteSignatureException => "IncompleteSignatureException",
        }
    }

    /// Parses a shape name (`ThrottlingException`) or its event-stream member name
    /// (`throttlingException`).
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.name() == name || c.stream_member_name() == name)
    }

    /// The HTTP status the service model binds to the exception.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationException
            | ErrorCode::ConflictException
            | ErrorCode::ServiceQuotaExceededException
            | ErrorCode::ResourceInUseException
            | ErrorCode::TooManyTagsException
            | ErrorCode::IncompleteSignatureException => 400,
            ErrorCode::AccessDeniedException
            | ErrorCode::UnrecognizedClientException
            | ErrorCode::InvalidSignatureException
            | ErrorCode::ExpiredTokenException => 403,
            ErrorCode::ResourceNotFoundException | ErrorCode::UnknownOperationException => 404,
            ErrorCode::ModelTimeoutException => 408,
            ErrorCode::ModelErrorException | ErrorCode::ModelStreamErrorException => 424,
            ErrorCode::ThrottlingException | ErrorCode::ModelNotReadyException => 429,
            ErrorCode::InternalServerException => 500,
            ErrorCode::ServiceUnavailableException => 503,
        }
    }

    /// Bedrock's usual message for the type, used when a scenario or fault rule gives none.
    pub fn default_message(self) -> &'static str {
        match self {
            // Recorded from Bedrock (the double space is Bedrock's).
            ErrorCode::ThrottlingException => {
                "Too many requests, please wait before trying again. You have sent too many requests.  Wait before trying again."
            }
            ErrorCode::ModelNotReadyException => "Model is not ready for inference. Wait and try your request again.",
            ErrorCode::ModelTimeoutException => "Model has timed out in processing the request. Try your request again.",
            ErrorCode::ModelErrorException => "The model returned an error. Try your request again.",
            ErrorCode::ModelStreamErrorException => "The model stream returned an error. Try your request again.",
            ErrorCode::InternalServerException => {
                "The server encountered an internal error while processing the request."
            }
            ErrorCode::ServiceUnavailableException => "Bedrock is unable to process your request.",
            ErrorCode::AccessDeniedException => "You don't have access to the model with the specified model ID.",
            ErrorCode::ResourceNotFoundException => "The requested resource could not be found.",
            ErrorCode::ServiceQuotaExceededException => "Your request exceeds the service quota for your account.",
            ErrorCode::ValidationException => "The request is not valid.",
            ErrorCode::ConflictException => "The request conflicts with the current state of the resource.",
            ErrorCode::ResourceInUseException => "The resource is in use.",
            ErrorCode::TooManyTagsException => "The request contains more tags than can be associated with a resource.",
            ErrorCode::UnknownOperationException => "Unknown operation.",
            ErrorCode::UnrecognizedClientException => "The security token included in the request is invalid.",
            ErrorCode::InvalidSignatureException => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ErrorCode::ExpiredTokenException => "The security token included in the request is expired",
            ErrorCode::IncompleteSignatureException => "The request signature does not conform to AWS standards.",
        }
    }

    /// The union member name used as `:exception-type` inside event streams (lower camel).
    pub fn stream_member_name(self) -> String {
        let name = self.name();
        let mut out = String::with_capacity(name.len());
        let mut chars = name.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_lowercase());
        }
        out.extend(chars);
        out
    }
}

/// Who raises an error on AWS's side, which shows in its `x-amzn-ErrorType` namespace and
/// body: Bedrock itself, or the front end every Coral service shares (authentication).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorSource {
    /// `…/coral/com.amazon.bedrock/`, body `{"message": …}`.
    #[default]
    Bedrock,
    /// `…/coral/com.amazon.coral.service/`, body `{"message": …}` (SigV4 failures).
    FrontEnd,
    /// `…/coral/com.amazon.coral.service/`, body `{"Message": …}` (missing auth, API keys).
    FrontEndCapitalized,
}

/// A failure answered to the client with its AWS code, message and any extra members.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", code.name())]
pub struct BedrockError {
    /// Which modelled exception this is.
    pub code: ErrorCode,
    /// The human message, in Bedrock's wording where known.
    pub message: String,
    /// Extra members of the exception structure (`originalStatusCode`, `resourceName`, …).
    pub extra: Map<String, Value>,
    /// Who raises it.
    pub raised_by: ErrorSource,
}

impl BedrockError {
    /// An error with just a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        BedrockError { code, message: message.into(), extra: Map::new(), raised_by: ErrorSource::Bedrock }
    }

    /// An error of `code` with `message` (default: [`ErrorCode::default_message`]) and the
    /// members its structure requires in the service model (`originalStatusCode`, …), as a
    /// scripted or injected error needs to parse into the SDK's typed exception.
    pub fn modelled(code: ErrorCode, message: Option<&str>) -> Self {
        let message = message.unwrap_or(code.default_message()).to_string();
        let error = BedrockError::new(code, message.clone());
        match code {
            ErrorCode::ModelErrorException => {
                error.with_extra("originalStatusCode", json!(500)).with_extra("resourceName", json!("model"))
            }
            ErrorCode::ModelStreamErrorException => {
                error.with_extra("originalStatusCode", json!(500)).with_extra("originalMessage", json!(message))
            }
            ErrorCode::TooManyTagsException => error.with_extra("resourceName", json!("resource")),
            _ => error,
        }
    }

    /// An error raised by AWS's front end rather than by Bedrock.
    pub fn front_end(code: ErrorCode, message: impl Into<String>, source: ErrorSource) -> Self {
        BedrockError { raised_by: source, ..Self::new(code, message) }
    }

    /// `ValidationException` with `message`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationException, message)
    }

    /// `ResourceNotFoundException` with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceNotFoundException, message)
    }

    /// Adds an extra member to the exception body.
    pub fn with_extra(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }

    /// The JSON body: `{"message": …}` plus extra members. No `__type`: real Bedrock does not
    /// send one and the header is authoritative for every SDK.
    pub fn body(&self) -> Value {
        let mut body = Map::new();
        let key = if self.raised_by == ErrorSource::FrontEndCapitalized { "Message" } else { "message" };
        body.insert(key.into(), json!(self.message));
        for (k, v) in &self.extra {
            body.insert(k.clone(), v.clone());
        }
        Value::Object(body)
    }

    /// The error as an event-stream `exception` frame (`:exception-type` is the union member).
    pub fn stream_frame(&self) -> crate::wire::event_stream::Frame {
        crate::wire::event_stream::Frame::Exception {
            exception_type: self.code.stream_member_name(),
            payload: bytes::Bytes::from(serde_json::to_vec(&self.body()).unwrap_or_default()),
        }
    }

    /// The `x-amzn-ErrorType` header value, in Bedrock's Coral form (authentication errors come
    /// from the front end shared by every Coral service, hence their namespace).
    pub fn error_type_header(&self) -> String {
        let namespace = match self.raised_by {
            ErrorSource::Bedrock => "com.amazon.bedrock",
            ErrorSource::FrontEnd | ErrorSource::FrontEndCapitalized => "com.amazon.coral.service",
        };
        format!("{}:http://internal.amazon.com/coral/{namespace}/", self.code.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_names() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
            assert_eq!(ErrorCode::from_name(&code.stream_member_name()), Some(code));
        }
    }

    #[test]
    fn stream_member_names_are_lower_camel() {
        assert_eq!(ErrorCode::ThrottlingException.stream_member_name(), "throttlingException");
        assert_eq!(ErrorCode::ModelStreamErrorException.stream_member_name(), "modelStreamErrorException");
    }

    #[test]
    fn body_carries_message_and_extra_members() {
        let e = BedrockError::new(ErrorCode::ModelErrorException, "boom").with_extra("originalStatusCode", json!(500));
        assert_eq!(e.body(), json!({"message": "boom", "originalStatusCode": 500}));
        assert_eq!(e.error_type_header(), "ModelErrorException:http://internal.amazon.com/coral/com.amazon.bedrock/");
    }
}
