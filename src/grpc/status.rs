//! gRPC status codes (an open newtype: a peer's unknown code is carried)
//! and [`Status`], the one error type of every call.

use std::fmt;

/// A gRPC status code (grpc/doc/statuscodes.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Code(pub u32);

impl Code {
    pub const OK: Code = Code(0);
    pub const CANCELLED: Code = Code(1);
    pub const UNKNOWN: Code = Code(2);
    pub const INVALID_ARGUMENT: Code = Code(3);
    pub const DEADLINE_EXCEEDED: Code = Code(4);
    pub const NOT_FOUND: Code = Code(5);
    pub const ALREADY_EXISTS: Code = Code(6);
    pub const PERMISSION_DENIED: Code = Code(7);
    pub const RESOURCE_EXHAUSTED: Code = Code(8);
    pub const FAILED_PRECONDITION: Code = Code(9);
    pub const ABORTED: Code = Code(10);
    pub const OUT_OF_RANGE: Code = Code(11);
    pub const UNIMPLEMENTED: Code = Code(12);
    pub const INTERNAL: Code = Code(13);
    pub const UNAVAILABLE: Code = Code(14);
    pub const DATA_LOSS: Code = Code(15);
    pub(crate) const UNAUTHENTICATED: Code = Code(16);

    /// The upper-case name of a known code.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 17] = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        usize::try_from(self.0)
            .ok()
            .and_then(|i| NAMES.get(i).copied())
    }

    /// The name grpc-go's `codes.Code.String()` gives (`Internal`,
    /// `NotFound`, `Code(42)` for an unknown one): what Go callers see in
    /// `rpc error: code = ... desc = ...`.
    pub(crate) fn go_name(self) -> std::borrow::Cow<'static, str> {
        const NAMES: [&str; 17] = [
            "OK",
            "Canceled",
            "Unknown",
            "InvalidArgument",
            "DeadlineExceeded",
            "NotFound",
            "AlreadyExists",
            "PermissionDenied",
            "ResourceExhausted",
            "FailedPrecondition",
            "Aborted",
            "OutOfRange",
            "Unimplemented",
            "Internal",
            "Unavailable",
            "DataLoss",
            "Unauthenticated",
        ];
        match usize::try_from(self.0).ok().and_then(|i| NAMES.get(i)) {
            Some(name) => std::borrow::Cow::Borrowed(name),
            None => std::borrow::Cow::Owned(format!("Code({})", self.0)),
        }
    }

    /// Parses the decimal `grpc-status` value; `None` when not a number.
    pub fn parse(value: &[u8]) -> Option<Code> {
        std::str::from_utf8(value).ok()?.parse().ok().map(Code)
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "code {}", self.0),
        }
    }
}

/// The outcome of a failed call: a code and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

impl Status {
    /// A status with `code` and `message`.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "rpc error: code = {}", self.code)
        } else {
            write!(f, "rpc error: code = {} desc = {}", self.code, self.message)
        }
    }
}

impl std::error::Error for Status {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_grpc_go() {
        let s = Status::new(Code::NOT_FOUND, "no such image");
        assert_eq!(
            s.to_string(),
            "rpc error: code = NOT_FOUND desc = no such image"
        );
        assert_eq!(Code(42).to_string(), "code 42");
        assert_eq!(Code::INTERNAL.go_name(), "Internal");
        assert_eq!(Code::CANCELLED.go_name(), "Canceled");
        assert_eq!(Code(42).go_name(), "Code(42)");
        assert_eq!(Code::parse(b"14"), Some(Code::UNAVAILABLE));
        assert_eq!(Code::parse(b"x"), None);
    }

    #[test]
    fn status_is_small() {
        assert!(std::mem::size_of::<Status>() <= 32);
    }
}
