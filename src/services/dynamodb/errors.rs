//! DynamoDB's errors as the AWS CLI reads them: the exception type (`__type`, with its
//! `com.amazonaws.dynamodb.v20120810#` or `com.amazon.coral…#` namespace), the HTTP status,
//! and DynamoDB's own wording of validation messages.
//!
//! Contract: one [`Error`] per AWS exception; [`Error::body`] is the JSON DynamoDB sends.

use super::*;

/// Why a request failed, as DynamoDB names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// 400 `ValidationException`: a parameter DynamoDB would refuse, in its wording.
    #[error("{0}")]
    Validation(String),
    /// 400 `ResourceNotFoundException`: no such table (or index).
    #[error("{0}")]
    ResourceNotFound(String),
    /// 400 `ResourceInUseException`: CreateTable of a table that exists.
    #[error("{0}")]
    ResourceInUse(String),
    /// 400 `ConditionalCheckFailedException`: a condition expression failed; the old item when
    /// `ReturnValuesOnConditionCheckFailure: ALL_OLD` asked for it.
    #[error("The conditional request failed")]
    ConditionalCheckFailed(Option<Item>),
    /// 400 `SerializationException`: JSON that is not DynamoDB's (a wrongly typed value).
    #[error("{0}")]
    Serialization(String),
    /// 400 `UnknownOperationException`: not a POST, or an `X-Amz-Target` DynamoDB does not have (or
    /// vpclab does not serve).
    #[error("")]
    UnknownOperation,
    /// 400 `AccessDeniedException`: the authorizer refused the request, with why.
    #[error("{0}")]
    AccessDenied(String),
    /// 400 `LimitExceededException`: more tables than vpclab keeps per lab.
    #[error("{0}")]
    LimitExceeded(String),
    /// 413 `RequestEntityTooLargeException`: a body over [`super::MAX_BODY`].
    #[error("Request entity too large")]
    RequestTooLarge,
    /// 500 `InternalServerError`: a failure of vpclab itself, with what went wrong.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The `__type` of the error body.
    pub fn type_name(&self) -> &'static str {
        match self {
            Error::Validation(_) => "com.amazon.coral.validate#ValidationException",
            Error::ResourceNotFound(_) => {
                "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
            }
            Error::ResourceInUse(_) => "com.amazonaws.dynamodb.v20120810#ResourceInUseException",
            Error::ConditionalCheckFailed(_) => {
                "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"
            }
            Error::Serialization(_) => "com.amazon.coral.service#SerializationException",
            Error::UnknownOperation => "com.amazon.coral.service#UnknownOperationException",
            Error::AccessDenied(_) => "com.amazon.coral.service#AccessDeniedException",
            Error::LimitExceeded(_) => "com.amazonaws.dynamodb.v20120810#LimitExceededException",
            Error::RequestTooLarge => "com.amazon.coral.service#RequestEntityTooLargeException",
            Error::Internal(_) => "com.amazonaws.dynamodb.v20120810#InternalServerError",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Error::RequestTooLarge => 413,
            Error::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The JSON error body (coral's own errors spell `Message`, DynamoDB's `message`).
    pub fn body(&self) -> Json {
        let mut o = Map::new();
        o.insert("__type".into(), Json::String(self.type_name().into()));
        match self {
            Error::UnknownOperation => {}
            Error::Serialization(_) | Error::AccessDenied(_) | Error::RequestTooLarge => {
                o.insert("Message".into(), Json::String(self.to_string()));
            }
            _ => {
                o.insert("message".into(), Json::String(self.to_string()));
            }
        }
        if let Error::ConditionalCheckFailed(Some(item)) = self {
            o.insert("Item".into(), item_to_json(item));
        }
        Json::Object(o)
    }
}

pub(super) fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Validation(format!("One or more parameter values were invalid: {msg}"))
}

/// `N validation error(s) detected: …` from constraint messages.
pub(super) fn constraints(errs: Vec<String>) -> Error {
    let n = errs.len();
    Error::Validation(format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        errs.join("; ")
    ))
}

pub(super) fn not_null(field: &str) -> Error {
    constraints(vec![format!(
        "Value null at '{field}' failed to satisfy constraint: Member must not be null"
    )])
}
