//! The API server's validation of created and updated objects, for the
//! resources `deploy/` holds: the mistakes a hand-written manifest makes
//! (a selector that does not select the pod template, a mount of a volume
//! that does not exist, a Role rule without verbs, a RoleBinding to a
//! non-RBAC kind). The real server checks far more; what it rejects here
//! it rejects with the same field paths, `422 Invalid` and a message of
//! the real form (`Deployment.apps "x" is invalid: spec.selector: ...`).
//! Secrets: the keys their type requires (the user guide's CA Secret of
//! type `kubernetes.io/tls` without `tls.crt`/`tls.key` is refused, as a
//! real server refuses it). Pods and configmaps are not checked (the kube
//! client's tests rely on the fake taking what they send).

use std::collections::BTreeSet;

use serde_json::Value;

use super::resources::Resource;
use super::store::ApiError;

/// Checks `obj` (the request body) as `resource`; 400 when its apiVersion
/// or kind names another resource, 422 when a field is invalid.
pub fn object(resource: &Resource, obj: &Value) -> Result<(), ApiError> {
    let api_version = resource.api_version();
    if let Some(sent) = obj["apiVersion"].as_str() {
        if sent != api_version {
            return Err(ApiError::new(
                400,
                format!(
                    "the API version in the data ({sent}) does not match the expected API version ({api_version})"
                ),
            ));
        }
    }
    if let Some(sent) = obj["kind"].as_str() {
        if sent != resource.kind {
            return Err(ApiError::new(
                400,
                format!(
                    "the kind in the data ({sent}) does not match the expected kind ({})",
                    resource.kind
                ),
            ));
        }
    }
    let mut problems = Vec::new();
    match resource.kind {
        "Deployment" => deployment(obj, &mut problems),
        "Service" => service(obj, &mut problems),
        "Role" => role(obj, &mut problems),
        "RoleBinding" => role_binding(obj, &mut problems),
        "Secret" => secret(obj, &mut problems),
        _ => {}
    }
    if problems.is_empty() {
        return Ok(());
    }
    let qualified = if resource.group.is_empty() {
        resource.kind.to_owned()
    } else {
        format!("{}.{}", resource.kind, resource.group)
    };
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    // apimachinery's aggregate: one error as it is, several in brackets.
    let listed = match problems.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let mut e = ApiError::new(422, format!("{qualified} \"{name}\" is invalid: {listed}"));
    e.reason = "Invalid";
    Err(e)
}

fn required(problems: &mut Vec<String>, path: &str) {
    problems.push(format!("{path}: Required value"));
}

fn deployment(obj: &Value, problems: &mut Vec<String>) {
    let spec = &obj["spec"];
    let selector = &spec["selector"]["matchLabels"];
    let labels = &spec["template"]["metadata"]["labels"];
    match selector.as_object() {
        None => required(problems, "spec.selector"),
        Some(want) => {
            let matches = want
                .iter()
                .all(|(k, v)| labels.get(k).is_some_and(|l| l == v));
            if want.is_empty() || !matches {
                problems.push(format!(
                    "spec.template.metadata.labels: Invalid value: {labels}: `selector` does not match template `labels`"
                ));
            }
        }
    }
    pod_spec(&spec["template"]["spec"], "spec.template.spec", problems);
}

fn pod_spec(spec: &Value, path: &str, problems: &mut Vec<String>) {
    let volumes: BTreeSet<&str> = spec["volumes"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["name"].as_str()).collect())
        .unwrap_or_default();
    let containers = spec["containers"].as_array().cloned().unwrap_or_default();
    if containers.is_empty() {
        required(problems, &format!("{path}.containers"));
    }
    let mut names = BTreeSet::new();
    for (i, c) in containers.iter().enumerate() {
        let at = format!("{path}.containers[{i}]");
        match c["name"].as_str() {
            Some(n) if !n.is_empty() => {
                if !names.insert(n) {
                    problems.push(format!("{at}.name: Duplicate value: \"{n}\""));
                }
            }
            _ => required(problems, &format!("{at}.name")),
        }
        if c["image"].as_str().is_none_or(str::is_empty) {
            required(problems, &format!("{at}.image"));
        }
        for (j, m) in c["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = m["name"].as_str().unwrap_or("");
            if !volumes.contains(name) {
                problems.push(format!(
                    "{at}.volumeMounts[{j}].name: Not found: \"{name}\""
                ));
            }
            if m["mountPath"].as_str().is_none_or(str::is_empty) {
                required(problems, &format!("{at}.volumeMounts[{j}].mountPath"));
            }
        }
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            let p = &c[probe];
            if p.is_null() {
                continue;
            }
            let handlers = ["exec", "httpGet", "tcpSocket", "grpc"]
                .iter()
                .filter(|h| !p[**h].is_null())
                .count();
            if handlers != 1 {
                problems.push(format!(
                    "{at}.{probe}: Required value: must specify a handler type"
                ));
            }
        }
    }
}

fn service(obj: &Value, problems: &mut Vec<String>) {
    let ports = obj["spec"]["ports"].as_array().cloned().unwrap_or_default();
    if ports.is_empty() {
        required(problems, "spec.ports");
    }
    for (i, p) in ports.iter().enumerate() {
        if !p["port"].as_u64().is_some_and(|n| (1..=65535).contains(&n)) {
            problems.push(format!(
                "spec.ports[{i}].port: Invalid value: {}: must be between 1 and 65535, inclusive",
                p["port"]
            ));
        }
    }
}

fn role(obj: &Value, problems: &mut Vec<String>) {
    for (i, rule) in obj["rules"].as_array().into_iter().flatten().enumerate() {
        if rule["verbs"].as_array().is_none_or(Vec::is_empty) {
            required(problems, &format!("rules[{i}].verbs"));
        }
        let has_resources = rule["resources"].as_array().is_some_and(|r| !r.is_empty());
        if has_resources && rule["apiGroups"].as_array().is_none_or(Vec::is_empty) {
            problems.push(format!(
                "rules[{i}].apiGroups: Required value: resource rules must supply at least one api group"
            ));
        }
    }
}

fn role_binding(obj: &Value, problems: &mut Vec<String>) {
    let role_ref = &obj["roleRef"];
    if role_ref["apiGroup"].as_str() != Some("rbac.authorization.k8s.io") {
        problems.push(format!(
            "roleRef.apiGroup: Unsupported value: {}: supported values: \"rbac.authorization.k8s.io\"",
            role_ref["apiGroup"]
        ));
    }
    if !matches!(role_ref["kind"].as_str(), Some("Role" | "ClusterRole")) {
        problems.push(format!(
            "roleRef.kind: Unsupported value: {}: supported values: \"Role\", \"ClusterRole\"",
            role_ref["kind"]
        ));
    }
    if role_ref["name"].as_str().is_none_or(str::is_empty) {
        required(problems, "roleRef.name");
    }
    for (i, s) in obj["subjects"].as_array().into_iter().flatten().enumerate() {
        if s["name"].as_str().is_none_or(str::is_empty) {
            required(problems, &format!("subjects[{i}].name"));
        }
        if s["kind"].as_str() == Some("ServiceAccount")
            && s["apiGroup"].as_str().is_some_and(|g| !g.is_empty())
        {
            problems.push(format!(
                "subjects[{i}].apiGroup: Unsupported value: {}: supported values: \"\"",
                s["apiGroup"]
            ));
        }
    }
}

/// The keys a Secret's type requires (k8s.io/kubernetes validation of
/// `kubernetes.io/dockerconfigjson` and `kubernetes.io/tls`).
fn secret(obj: &Value, problems: &mut Vec<String>) {
    let required_keys: &[&str] = match obj["type"].as_str() {
        Some("kubernetes.io/dockerconfigjson") => &[".dockerconfigjson"],
        Some("kubernetes.io/tls") => &["tls.crt", "tls.key"],
        _ => &[],
    };
    for key in required_keys {
        let present = ["data", "stringData"]
            .iter()
            .any(|field| obj[*field].get(*key).is_some());
        if !present {
            required(problems, &format!("data[{key}]"));
        }
    }
}
