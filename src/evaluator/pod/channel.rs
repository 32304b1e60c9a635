//! The gRPC channel to one function pod (compat §4.7): EvaluateFunction
//! on `<podIP>:9446` with the caller's request, deadline and cancellation,
//! through our own client (one connection per pod, made on the first call,
//! shared by every call, closed when idle; message limits
//! `--max-request-body-size` both ways).
//!
//! The request is forwarded without a copy: its ResourceList moves into
//! the message parts, and the answer is decoded in the buffer it arrived
//! in. Because the request is given away, the channel connects first: a
//! pod that cannot be reached had nothing sent to it, the request is still
//! the caller's, and the runtime may try it on a new pod ([`Error::NotSent`]).

use std::net::{IpAddr, SocketAddr};

use super::template::WRAPPER_SERVER_PORT;
use crate::call::CallContext;
use crate::grpc::{self, Code, Status};
use crate::proto::{EvaluateFunctionRequest, EvaluateFunctionResponse, EVALUATE_PATH};

/// A client for one pod.
pub(crate) struct Channel {
    client: grpc::Client,
}

/// How a call on a pod failed.
#[derive(Debug)]
pub enum Error {
    /// The pod could not be reached; the request was not sent and is
    /// intact.
    NotSent(Status),
    /// The request was sent and the call failed: the pod's answer (the
    /// function failed, or the wrapper refused it), or the connection was
    /// lost after sending, or the caller's deadline or cancel.
    Failed(Status),
    /// The pod's answer is not an EvaluateFunctionResponse.
    BadAnswer(crate::proto::Error),
}

impl Channel {
    /// A channel to the pod at `ip` (no I/O yet).
    pub fn new(ip: IpAddr, max_message_bytes: usize) -> Channel {
        let addr = SocketAddr::new(ip, WRAPPER_SERVER_PORT).to_string();
        let config = grpc::ClientConfig {
            max_message_bytes,
            ..grpc::ClientConfig::default()
        };
        Channel {
            client: grpc::Client::new(&addr, config),
        }
    }

    /// `HOST:PORT` this channel calls.
    pub fn addr(&self) -> &str {
        self.client.addr()
    }

    /// Sends `request` (its ResourceList moved out unless the pod could
    /// not be reached) and returns the pod's answer.
    pub fn evaluate(
        &self,
        request: &mut EvaluateFunctionRequest,
        ctx: &CallContext,
    ) -> Result<EvaluateFunctionResponse, Error> {
        if let Err(status) = self.client.connected(ctx) {
            return Err(match status.code {
                // The caller's own end, not the pod's.
                Code::DEADLINE_EXCEEDED | Code::CANCELLED => Error::Failed(status),
                _ => Error::NotSent(status),
            });
        }
        let parts = std::mem::take(request).into_parts();
        let answer = self
            .client
            .call_owned(EVALUATE_PATH, parts, ctx)
            .map_err(Error::Failed)?;
        let (buf, start) = answer.into_buffer();
        EvaluateFunctionResponse::decode_in_place(buf, start).map_err(Error::BadAnswer)
    }
}
