//! A function pod as tests look at it: name, labels, annotations, phase,
//! IP, readiness, the `function` container's waiting reason; the whole
//! object stays at hand for any other field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::support::fakekube::pod_ip::POD_PORT;

/// One pod, read from the fake's store.
#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub phase: String,
    pub ip: Option<String>,
    /// Condition Ready is True.
    pub ready: bool,
    /// It has a deletionTimestamp.
    pub deleting: bool,
    /// The `function` container's waiting reason and message, if it waits.
    pub waiting: Option<(String, String)>,
    pub object: Value,
}

impl Pod {
    pub fn from_object(object: &Value) -> Pod {
        let map = |v: &Value| -> BTreeMap<String, String> {
            v.as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        };
        let status = &object["status"];
        let ready = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Ready" && c["status"] == "True");
        let waiting = status["containerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == "function")
            .map(|c| &c["state"]["waiting"])
            .filter(|w| w.is_object())
            .map(|w| {
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (text(&w["reason"]), text(&w["message"]))
            });
        Pod {
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            labels: map(&object["metadata"]["labels"]),
            annotations: map(&object["metadata"]["annotations"]),
            phase: status["phase"].as_str().unwrap_or_default().to_owned(),
            ip: status["podIP"].as_str().map(str::to_owned),
            ready,
            deleting: !object["metadata"]["deletionTimestamp"].is_null(),
            waiting,
            object: object.clone(),
        }
    }

    /// `IP:9446`, where its wrapper server listens, once it has an IP.
    pub fn addr(&self) -> Option<String> {
        self.ip.as_ref().map(|ip| format!("{ip}:{POD_PORT}"))
    }

    /// The `function` container's image.
    pub fn image(&self) -> &str {
        self.object["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["name"] == "function")
            .and_then(|c| c["image"].as_str())
            .unwrap_or_default()
    }

    /// The `function` container's waiting reason, if it waits.
    pub fn waiting_reason(&self) -> Option<&str> {
        self.waiting.as_ref().map(|(reason, _)| reason.as_str())
    }
}
