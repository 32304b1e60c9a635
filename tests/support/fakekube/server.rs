//! The fake's sockets: an acceptor thread, one thread per connection
//! (TLS via rustls, HTTP/1.1 keep-alive), watches streamed as chunked
//! newline-delimited JSON.

use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::api::{self, Reply, WatchSpec};
use super::http::{self, Request};
use super::rbac::Caller;
use super::store::{labels_of, ApiError};
use super::{FaultAction, LoggedRequest, Shared};

type Tls = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

pub fn accept_loop(shared: Arc<Shared>, listener: TcpListener, tls: Arc<rustls::ServerConfig>) {
    for conn in listener.incoming() {
        if shared.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let Ok(tcp) = conn else { continue };
        // As Go's net/http (the real API server) does: without it, an
        // answer written as head and body (two TLS records), or watch
        // events back to back, wait out the client's delayed ACK (40 ms).
        let _ = tcp.set_nodelay(true);
        if let Ok(clone) = tcp.try_clone() {
            shared.lock(&shared.conns).push(clone);
        }
        let shared = Arc::clone(&shared);
        let tls = Arc::clone(&tls);
        std::thread::spawn(move || {
            let Ok(conn) = rustls::ServerConnection::new(tls) else {
                return;
            };
            let _ = serve(&shared, rustls::StreamOwned::new(conn, tcp));
        });
    }
}

fn serve(shared: &Shared, stream: Tls) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(req) = http::read_request(&mut reader)? else {
            return Ok(());
        };
        if shared.shutdown.load(Ordering::SeqCst) {
            return Ok(());
        }
        let client_cert = reader
            .get_ref()
            .conn
            .peer_certificates()
            .is_some_and(|c| !c.is_empty());
        let keep = handle(shared, &req, client_cert, reader.get_mut())?;
        if !keep || req.wants_close() {
            reader.get_mut().conn.send_close_notify();
            let _ = reader.get_mut().flush();
            return Ok(());
        }
    }
}

/// Answers one request; `Ok(false)` closes the connection.
fn handle(shared: &Shared, req: &Request, client_cert: bool, w: &mut Tls) -> io::Result<bool> {
    let log_index = shared.log_request(LoggedRequest {
        at: std::time::SystemTime::now(),
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.raw_query.clone(),
        code: 0,
        content_type: req.header("content-type").unwrap_or("").to_owned(),
        accept: req.header("accept").unwrap_or("").to_owned(),
    });
    let mut lost_answer = None;
    if let Some(action) = shared.take_fault(req) {
        match action {
            FaultAction::LostAnswer { code } => lost_answer = Some(code),
            FaultAction::Latency(d) => std::thread::sleep(d),
            FaultAction::Drop => {
                let _ = w.sock.shutdown(Shutdown::Both);
                return Ok(false);
            }
            FaultAction::Status { code, retry_after } => {
                let mut e = ApiError::new(code, fault_message(code));
                e.retry_after = retry_after;
                shared.set_code(log_index, code);
                respond_error(w, &e)?;
                return Ok(true);
            }
        }
    }
    let Some(caller) = authenticated(shared, req, client_cert) else {
        shared.set_code(log_index, 401);
        respond_error(w, &ApiError::new(401, "Unauthorized"))?;
        return Ok(true);
    };
    match (api::handle(shared, req, caller), lost_answer) {
        (Reply::Json(..), Some(code)) => {
            shared.set_code(log_index, code);
            respond_error(w, &ApiError::new(code, fault_message(code)))?;
            Ok(true)
        }
        (Reply::Json(code, body), None) => {
            shared.set_code(log_index, code);
            let body = serde_json::to_vec(&body).unwrap_or_default();
            http::write_response(
                w,
                code,
                &[("Content-Type".to_owned(), "application/json".to_owned())],
                &body,
            )?;
            Ok(true)
        }
        (Reply::Watch(spec), _) => {
            shared.set_code(log_index, 200);
            stream_watch(shared, &spec, w)
        }
    }
}

fn fault_message(code: u16) -> String {
    match code {
        429 => "Too many requests, please try again later.".to_owned(),
        500 => "Internal error occurred: injected fault".to_owned(),
        403 => "forbidden: injected fault".to_owned(),
        _ => format!("injected fault {code}"),
    }
}

fn respond_error(w: &mut Tls, e: &ApiError) -> io::Result<()> {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    if let Some(s) = e.retry_after {
        headers.push(("Retry-After".to_owned(), s.to_string()));
    }
    let body = serde_json::to_vec(&e.status()).unwrap_or_default();
    http::write_response(w, e.code, &headers, &body)
}

/// Who the request comes from, `None` when it does not authenticate: the
/// client certificate is the admin's, the token the service account's.
fn authenticated(shared: &Shared, req: &Request, client_cert: bool) -> Option<Caller> {
    if client_cert {
        return Some(Caller::Admin);
    }
    // Re-read per request: tests rotate the token by rewriting the file.
    let token = std::fs::read_to_string(&shared.token_file).ok()?;
    let token = token.trim();
    let sent = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))?;
    (!token.is_empty() && sent.trim() == token).then_some(Caller::ServiceAccount)
}

fn event_line(kind: &str, object: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Streams a watch until its timeout (clean end, connection kept), or
/// until `drop_watches`/shutdown (connection cut without the last chunk,
/// like a lost connection), or a write fails.
fn stream_watch(shared: &Shared, spec: &WatchSpec, w: &mut Tls) -> io::Result<bool> {
    http::start_chunked(w, "application/json")?;
    let epoch = shared.watch_epoch.load(Ordering::SeqCst);
    let deadline = Instant::now() + spec.timeout;
    let matches = |resource: &str, ns: &str, obj: &Value| {
        resource == spec.resource
            && spec.namespace.as_deref().is_none_or(|want| want == ns)
            && spec.labels.matches(&labels_of(obj))
            && spec
                .fields
                .matches(obj["metadata"]["name"].as_str().unwrap_or(""), ns)
    };
    let mut last = match spec.resource_version {
        Some(rv) => rv,
        None => {
            // "Any" resourceVersion: the current state as ADDED events.
            let (items, rv) = {
                let store = shared.lock_store();
                let items = store.list(
                    &spec.resource,
                    spec.namespace.as_deref(),
                    &spec.labels,
                    &spec.fields,
                );
                (items, store.resource_version())
            };
            for obj in items {
                http::write_chunk(w, &event_line("ADDED", &obj))?;
            }
            rv
        }
    };
    let mut next_bookmark = Instant::now() + shared.bookmark_interval;
    loop {
        let batch = {
            let mut store = shared.lock_store();
            loop {
                if shared.shutdown.load(Ordering::SeqCst)
                    || shared.watch_epoch.load(Ordering::SeqCst) != epoch
                {
                    let _ = w.sock.shutdown(Shutdown::Both);
                    return Ok(false);
                }
                let now = Instant::now();
                if now >= deadline {
                    drop(store);
                    http::end_chunked(w)?;
                    return Ok(true);
                }
                match store.events_since(last) {
                    Err(e) => break Err(e),
                    Ok(events) if !events.is_empty() => {
                        break Ok((events, store.resource_version()));
                    }
                    Ok(_) if spec.bookmarks && now >= next_bookmark => {
                        break Ok((Vec::new(), store.resource_version()));
                    }
                    Ok(_) => {}
                }
                let mut wake = deadline.min(now + Duration::from_millis(250));
                if spec.bookmarks {
                    wake = wake.min(next_bookmark);
                }
                store = shared
                    .changed
                    .wait_timeout(store, wake.saturating_duration_since(now))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        };
        match batch {
            Err(e) => {
                // Like the real server: 200, then one ERROR event, then end.
                http::write_chunk(w, &event_line("ERROR", &e.status()))?;
                http::end_chunked(w)?;
                return Ok(true);
            }
            Ok((events, current)) => {
                for ev in events {
                    last = ev.rv;
                    let now = matches(&ev.resource, &ev.namespace, &ev.object);
                    let before = ev
                        .prev
                        .as_ref()
                        .is_none_or(|p| matches(&ev.resource, &ev.namespace, p));
                    let kind = match (ev.kind, before, now) {
                        ("MODIFIED", false, true) => "ADDED",
                        ("MODIFIED", true, false) => "DELETED",
                        (kind, _, true) => kind,
                        _ => continue,
                    };
                    http::write_chunk(w, &event_line(kind, &ev.object))?;
                }
                last = last.max(current);
                if spec.bookmarks && Instant::now() >= next_bookmark {
                    let bookmark = json!({"kind": super::store::kind_of(&spec.resource), "apiVersion": super::store::api_version_of(&spec.resource),
                        "metadata": {"resourceVersion": last.to_string()}});
                    http::write_chunk(w, &event_line("BOOKMARK", &bookmark))?;
                    next_bookmark = Instant::now() + shared.bookmark_interval;
                }
            }
        }
    }
}
