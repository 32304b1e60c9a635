//! Routing of the fake API: discovery (`/version`, `/api`, `/api/v1`,
//! `/apis`, `/apis/GROUP/VERSION`), and the resources of `resources.rs` by
//! namespace, at `/api/v1/...` or `/apis/GROUP/VERSION/...`; every core
//! request is checked against the Role (`rbac.rs`), which also answers
//! `SelfSubjectAccessReview`. Writes honour `dryRun=All` (run on a copy of
//! the store: validated and answered, nothing kept). OpenAPI documents are
//! not served (404): kubectl then needs
//! `--validate=false`.

use std::time::Duration;

use serde_json::{json, Value};

use super::http::Request;
use super::rbac::{self, Caller};
use super::resources::{self, Resource};
use super::selector::{FieldSelector, Selector};
use super::store::{ApiError, Store};
use super::{validate, Shared};

/// What to answer.
pub enum Reply {
    Json(u16, Value),
    Watch(WatchSpec),
}

/// A watch request, streamed by the connection thread.
pub struct WatchSpec {
    pub resource: String,
    pub namespace: Option<String>,
    pub labels: Selector,
    pub fields: FieldSelector,
    /// `None`: "0" or absent: start with ADDED events for what exists.
    pub resource_version: Option<u64>,
    pub timeout: Duration,
    pub bookmarks: bool,
}

/// Longest watch when the client gives no timeoutSeconds (the real
/// server's default is 30-60 min; ours is shorter so tests end).
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(600);

pub fn handle(shared: &Shared, req: &Request, caller: Caller) -> Reply {
    match route(shared, req, caller) {
        Ok(reply) => reply,
        Err(e) => Reply::Json(e.code, e.status()),
    }
}

fn not_found_path() -> ApiError {
    ApiError::new(404, "the server could not find the requested resource")
}

fn route(shared: &Shared, req: &Request, caller: Caller) -> Result<Reply, ApiError> {
    let segs: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    let get = req.method == "GET";
    match segs.as_slice() {
        ["version"] if get => Ok(Reply::Json(
            200,
            json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0-fake",
                   "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
                   "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc",
                   "platform": "linux/amd64"}),
        )),
        ["api"] if get => Ok(Reply::Json(
            200,
            json!({"kind": "APIVersions", "versions": ["v1"],
                   "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                   "serverAddress": shared.addr.to_string()}]}),
        )),
        ["apis"] if get => Ok(Reply::Json(200, group_list())),
        ["apis", "authorization.k8s.io", "v1"] if get => {
            Ok(Reply::Json(200, rbac::resource_list()))
        }
        ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]
            if req.method == "POST" =>
        {
            let review = shared.role().review(caller, &parse_body(req)?)?;
            Ok(Reply::Json(201, review))
        }
        ["api", "v1"] if get => Ok(Reply::Json(200, resource_list("", "v1"))),
        ["apis", group, version] if get && resources::GROUPS.contains(&(*group, *version)) => {
            Ok(Reply::Json(200, resource_list(group, version)))
        }
        ["api", "v1", rest @ ..] => resource_route(shared, req, caller, "", "v1", rest),
        ["apis", group, version, rest @ ..] => {
            resource_route(shared, req, caller, group, version, rest)
        }
        _ => Err(not_found_path()),
    }
}

/// `rest` of a path under one group/version: a collection (all namespaces
/// or one) or an item.
fn resource_route(
    shared: &Shared,
    req: &Request,
    caller: Caller,
    group: &str,
    version: &str,
    rest: &[&str],
) -> Result<Reply, ApiError> {
    let found = |name: &str| resources::find(group, version, name).ok_or_else(not_found_path);
    match rest {
        [resource] if req.method == "GET" => {
            let served = found(resource)?;
            authorize(shared, req, caller, served, false, None)?;
            collection(shared, req, served, None)
        }
        ["namespaces", ns, resource] => {
            let served = found(resource)?;
            authorize(shared, req, caller, served, false, Some(ns))?;
            collection(shared, req, served, Some(ns))
        }
        ["namespaces", ns, resource, name] => {
            let served = found(resource)?;
            authorize(shared, req, caller, served, true, Some(ns))?;
            item(shared, req, served, ns, name)
        }
        _ => Err(not_found_path()),
    }
}

/// The Role's 403 (`rbac.rs`) for `caller`'s request to a core resource
/// (`item`: a named object); the admin is never refused. Its rules are for the core group only: requests to other
/// groups (what `deploy/` holds) are not checked.
fn authorize(
    shared: &Shared,
    req: &Request,
    caller: Caller,
    served: &Resource,
    item: bool,
    ns: Option<&str>,
) -> Result<(), ApiError> {
    if !served.group.is_empty() {
        return Ok(());
    }
    shared
        .role()
        .check(caller, rbac::verb_of(req, item), served.name, ns)
}

fn group_list() -> Value {
    let mut groups: Vec<Value> = resources::GROUPS
        .iter()
        .map(|(group, version)| {
            let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
            json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    groups.push(rbac::api_group());
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource_list(group: &str, version: &str) -> Value {
    let verbs = [
        "create", "delete", "get", "list", "patch", "update", "watch",
    ];
    let list: Vec<Value> = resources::ALL
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            json!({"name": r.name, "singularName": r.singular, "namespaced": true,
                   "kind": r.kind, "verbs": verbs, "shortNames": r.short_names})
        })
        .collect();
    let group_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    })
}

/// Runs a write on the store, or with `dryRun=All` on a copy of it: the
/// answer is the same, nothing is kept and no watch sees it.
fn write<T>(
    shared: &Shared,
    req: &Request,
    f: impl FnOnce(&mut Store) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    match req.param("dryRun") {
        None | Some("") => shared.mutate(f),
        Some("All") => {
            let mut copy = shared.lock_store().clone();
            f(&mut copy)
        }
        Some(other) => Err(ApiError::new(
            400,
            format!("dryRun: Unsupported value: \"{other}\": supported values: \"All\""),
        )),
    }
}

fn parse_body(req: &Request) -> Result<Value, ApiError> {
    let ct = req.header("content-type").unwrap_or("application/json");
    if ct.contains("yaml") {
        if let Ok(v) = serde_json::from_slice(&req.body) {
            return Ok(v);
        }
        let text = String::from_utf8_lossy(&req.body);
        return serde_saphyr::from_str::<Value>(&text)
            .map_err(|e| ApiError::new(400, format!("error decoding YAML: {e}")));
    }
    if ct.contains("protobuf") {
        return Err(ApiError::new(415, format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({ct})")));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        ApiError::new(
            400,
            format!("the body of the request was in an unknown format: {e}"),
        )
    })
}

fn collection(
    shared: &Shared,
    req: &Request,
    served: &Resource,
    ns: Option<&str>,
) -> Result<Reply, ApiError> {
    let resource = served.name;
    let labels = Selector::parse(req.param("labelSelector").unwrap_or(""))
        .map_err(|m| ApiError::new(400, m))?;
    let fields = FieldSelector::parse(req.param("fieldSelector").unwrap_or(""))
        .map_err(|m| ApiError::new(400, m))?;
    match req.method.as_str() {
        "GET" if req.flag("watch") => {
            let resource_version =
                match req.param("resourceVersion") {
                    None | Some("") | Some("0") => None,
                    Some(rv) => Some(rv.parse::<u64>().map_err(|_| {
                        ApiError::new(400, format!("invalid resource version: {rv}"))
                    })?),
                };
            let timeout = req
                .param("timeoutSeconds")
                .and_then(|t| t.parse::<u64>().ok())
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_WATCH_TIMEOUT);
            Ok(Reply::Watch(WatchSpec {
                resource: resource.to_owned(),
                namespace: ns.map(str::to_owned),
                labels,
                fields,
                resource_version,
                timeout,
                bookmarks: req.flag("allowWatchBookmarks"),
            }))
        }
        "GET" => {
            let store = shared.lock_store();
            let items: Vec<Value> = store
                .list(resource, ns, &labels, &fields)
                .into_iter()
                .map(|mut v| {
                    if let Some(m) = v.as_object_mut() {
                        m.remove("apiVersion");
                        m.remove("kind");
                    }
                    v
                })
                .collect();
            Ok(Reply::Json(
                200,
                json!({"kind": format!("{}List", served.kind), "apiVersion": served.api_version(),
                       "metadata": {"resourceVersion": store.resource_version().to_string()},
                       "items": items}),
            ))
        }
        "POST" if ns.is_some() => {
            let ns = ns.unwrap_or_default();
            shared.check_namespace(ns)?;
            let body = parse_body(req)?;
            validate::object(served, &body)?;
            let created = write(shared, req, |s| s.create(resource, ns, body))?;
            Ok(Reply::Json(201, created))
        }
        _ => Err(method_not_allowed(req)),
    }
}

fn item(
    shared: &Shared,
    req: &Request,
    served: &Resource,
    ns: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let resource = served.name;
    match req.method.as_str() {
        "GET" => Ok(Reply::Json(
            200,
            shared.lock_store().get(resource, ns, name)?,
        )),
        "PUT" => {
            let body = parse_body(req)?;
            validate::object(served, &body)?;
            Ok(Reply::Json(
                200,
                write(shared, req, |s| s.update(resource, ns, name, body))?,
            ))
        }
        "PATCH" => {
            let ct = req.header("content-type").unwrap_or("");
            let body = parse_body(req)?;
            if ct.starts_with("application/merge-patch+json") {
                Ok(Reply::Json(
                    200,
                    write(shared, req, |s| s.patch_merge(resource, ns, name, &body))?,
                ))
            } else if ct.starts_with("application/apply-patch+yaml") {
                let manager = req.param("fieldManager").unwrap_or("");
                if manager.is_empty() {
                    return Err(ApiError::new(
                        400,
                        "PATCH /api/v1: fieldManager is required for apply requests",
                    ));
                }
                shared.check_namespace(ns)?;
                let existed = shared.lock_store().get(resource, ns, name).is_ok();
                let obj = write(shared, req, |s| s.apply(resource, ns, name, &body, manager))?;
                Ok(Reply::Json(if existed { 200 } else { 201 }, obj))
            } else {
                Err(ApiError::new(
                    415,
                    format!("the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/apply-patch+yaml (got {ct:?}; the fake does not implement strategic merge or JSON patch)"),
                ))
            }
        }
        "DELETE" => {
            let opts: Value = if req.body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&req.body)
                    .map_err(|e| ApiError::new(400, format!("bad DeleteOptions: {e}")))?
            };
            let grace = req
                .param("gracePeriodSeconds")
                .and_then(|g| g.parse::<i64>().ok())
                .or_else(|| opts["gracePeriodSeconds"].as_i64());
            let rv = opts["preconditions"]["resourceVersion"]
                .as_str()
                .map(str::to_owned);
            let uid = opts["preconditions"]["uid"].as_str().map(str::to_owned);
            let obj = write(shared, req, |s| {
                s.delete(resource, ns, name, grace, rv.as_deref(), uid.as_deref())
            })?;
            Ok(Reply::Json(200, obj))
        }
        _ => Err(method_not_allowed(req)),
    }
}

/// 405, as the API server answers a verb the resource does not serve.
fn method_not_allowed(req: &Request) -> ApiError {
    ApiError::new(
        405,
        format!(
            "the server does not allow this method on the requested resource ({})",
            req.method
        ),
    )
}
