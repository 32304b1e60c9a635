//! The resources the fake serves, with their API group, version and kind,
//! for routing, discovery and the `apiVersion`/`kind` the server stamps on
//! stored objects. Core/v1 pods, secrets and configmaps are what the kube
//! client uses; the rest (apps/v1 Deployments, RBAC Roles and RoleBindings,
//! Services, ServiceAccounts) is what `deploy/` holds, so that `kubectl
//! apply` of it can be checked against the fake (`validate.rs`).

/// One served resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// Plural, as in the URL (`deployments`).
    pub name: &'static str,
    pub singular: &'static str,
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub short_names: &'static [&'static str],
}

impl Resource {
    /// `v1` or `group/version`, as objects carry it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn core(
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    short_names: &'static [&'static str],
) -> Resource {
    Resource {
        name,
        singular,
        group: "",
        version: "v1",
        kind,
        short_names,
    }
}

/// Every resource the fake serves (all namespaced). Plural names are unique.
pub const ALL: [Resource; 8] = [
    core("pods", "pod", "Pod", &["po"]),
    core("secrets", "secret", "Secret", &[]),
    core("configmaps", "configmap", "ConfigMap", &["cm"]),
    core("services", "service", "Service", &["svc"]),
    core(
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        &["sa"],
    ),
    Resource {
        name: "deployments",
        singular: "deployment",
        group: "apps",
        version: "v1",
        kind: "Deployment",
        short_names: &["deploy"],
    },
    Resource {
        name: "roles",
        singular: "role",
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "Role",
        short_names: &[],
    },
    Resource {
        name: "rolebindings",
        singular: "rolebinding",
        group: "rbac.authorization.k8s.io",
        version: "v1",
        kind: "RoleBinding",
        short_names: &[],
    },
];

/// The API groups besides core, with their one version.
pub const GROUPS: [(&str, &str); 2] = [("apps", "v1"), ("rbac.authorization.k8s.io", "v1")];

/// The resource `name` served at `group`/`version`.
pub fn find(group: &str, version: &str, name: &str) -> Option<&'static Resource> {
    ALL.iter()
        .find(|r| r.group == group && r.version == version && r.name == name)
}

/// The resource by its plural name.
pub fn by_name(name: &str) -> Option<&'static Resource> {
    ALL.iter().find(|r| r.name == name)
}
