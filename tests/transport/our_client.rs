//! Our client against the grpcio echo server and against our own server.
