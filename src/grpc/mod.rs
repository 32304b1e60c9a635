//! gRPC over our HTTP/2: server, client, status codes, message framing and
//! deadlines. Work in progress.
