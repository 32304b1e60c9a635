//! `fn-runner eval`: sends one EvaluateFunction call, like Porch's own test
//! client, through our gRPC client.
//!
//! ```text
//! fn-runner eval [--address HOST:PORT] --image IMAGE [--timeout D] [FILE|-]
//! ```
//!
//! Reads the ResourceList from FILE (stdin when `-` or absent, at most the
//! message limit), prints the output ResourceList on stdout and the
//! function's log on stderr, exit 0. On failure prints the status as
//! grpc-go does (`rpc error: code = NOT_FOUND desc = ...`), exit 1.

use std::fmt;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use crate::call::CallContext;
use crate::flags::EvalSettings;
use crate::grpc::{Client, ClientConfig, Status};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse, Message, EVALUATE_PATH};

/// Sends the call; returns the process exit code (0 ok, 1 failure).
pub fn run(settings: &EvalSettings) -> u8 {
    match evaluate(settings) {
        Ok(response) => {
            // The log first: a caller piping stdout still sees it.
            let _ = io::stderr().write_all(&response.log);
            let mut stdout = io::stdout().lock();
            if let Err(e) = stdout
                .write_all(&response.resource_list)
                .and_then(|()| stdout.flush())
            {
                eprintln!("fn-runner eval: writing the output: {e}");
                return 1;
            }
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Why `eval` failed.
#[derive(Debug)]
pub enum Error {
    /// The input could not be read.
    Read { input: String, source: io::Error },
    /// The input is larger than the message limit.
    TooLarge { input: String, limit_bytes: usize },
    /// The call failed (or the connection could not be made).
    Rpc(Status),
    /// The response is not an EvaluateFunctionResponse.
    BadResponse(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Read { input, source } => write!(f, "fn-runner eval: reading {input}: {source}"),
            Error::TooLarge { input, limit_bytes } => write!(
                f,
                "fn-runner eval: {input} is larger than the message limit of {limit_bytes} bytes \
                 (--max-request-body-size)"
            ),
            // grpc-go's `rpc error: code = ... desc = ...`, as Porch's client prints it.
            Error::Rpc(status) => write!(f, "{status}"),
            Error::BadResponse(e) => write!(f, "fn-runner eval: bad response: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Read { source, .. } => Some(source),
            Error::Rpc(status) => Some(status),
            _ => None,
        }
    }
}

/// Reads the input, sends the call, decodes the response.
pub fn evaluate(settings: &EvalSettings) -> Result<EvaluateFunctionResponse, Error> {
    let resource_list = read_input(settings.input.as_ref(), settings.max_message_bytes)?;
    let client = Client::connect(
        &settings.address,
        ClientConfig {
            max_message_bytes: settings.max_message_bytes,
            ..ClientConfig::default()
        },
    )
    .map_err(Error::Rpc)?;
    let ctx = settings
        .timeout
        .map(CallContext::with_timeout)
        .unwrap_or_default();
    let request = EvaluateFunctionRequest {
        resource_list,
        image: settings.image.clone(),
    };
    // The request and response move through the client without a copy.
    let response = client
        .call_owned(EVALUATE_PATH, vec![request.encode_to_vec()], &ctx)
        .map_err(Error::Rpc)?;
    EvaluateFunctionResponse::decode(response.as_bytes())
        .map_err(|e| Error::BadResponse(e.to_string()))
}

/// Reads FILE, or stdin for `None` / `-`, refusing more than `limit_bytes`.
fn read_input(input: Option<&PathBuf>, limit_bytes: usize) -> Result<Vec<u8>, Error> {
    let path = input.filter(|p| p.as_os_str() != "-");
    let name = path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string());
    let reader: Box<dyn Read> = match path {
        Some(p) => Box::new(std::fs::File::open(p).map_err(|source| Error::Read {
            input: name.clone(),
            source,
        })?),
        None => Box::new(io::stdin()),
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells "at the limit" from "over it".
    let cap = u64::try_from(limit_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Read {
            input: name.clone(),
            source,
        })?;
    if bytes.len() > limit_bytes {
        return Err(Error::TooLarge {
            input: name,
            limit_bytes,
        });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_at_the_limit_is_read_and_one_more_byte_refused() {
        let dir = std::env::temp_dir().join(format!("fn-runner-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("in.yaml");
        std::fs::write(&file, b"0123456789").expect("write");
        assert_eq!(read_input(Some(&file), 10).expect("at limit").len(), 10);
        let err = read_input(Some(&file), 9).expect_err("over");
        assert!(matches!(err, Error::TooLarge { limit_bytes: 9, .. }));
        let missing = dir.join("missing.yaml");
        let err = read_input(Some(&missing), 9).expect_err("missing");
        assert!(err.to_string().contains("missing.yaml"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
