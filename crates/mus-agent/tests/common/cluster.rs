//! A scripted cluster behind the fake API server, for the watch daemon: pods with
//! resource versions and a history that a WATCH from an older version replays,
//! 410 Gone once that history is compacted, Nodes and Namespaces listed as they are
//! (their watches stay open and quiet), and Events created as posted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use k8s_openapi::List;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Status, WatchEvent};
use tokio::sync::mpsc;

use super::api::{Call, FakeApi, Reply};
use super::objects::{list, not_found};

/// One change of one pod: `before`/`after` `None` mean absent (created/deleted).
#[derive(Clone)]
struct Change {
    rv: u64,
    before: Option<Pod>,
    after: Option<Pod>,
}

struct Watcher {
    node: Option<String>,
    tx: mpsc::UnboundedSender<String>,
}

/// What the API server holds.
#[derive(Default)]
struct Stored {
    pods: BTreeMap<String, Pod>,
    rv: u64,
    /// Changes a watch from an older resource version replays; cleared by
    /// `expire`, after which such a watch gets 410 Gone.
    history: Vec<Change>,
    oldest_rv: u64,
    watchers: Vec<Watcher>,
    nodes: Vec<Node>,
    namespaces: Vec<Namespace>,
    quiet_watches: Vec<mpsc::UnboundedSender<String>>,
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref()?.node_name.as_deref()
}

fn selector_node(call: &Call) -> Option<String> {
    call.param("fieldSelector")
        .and_then(|s| s.strip_prefix("spec.nodeName=").map(str::to_string))
}

/// The event a watcher with `node` filter sees for `change`, like the API server's
/// watch cache: an object leaving the selector is a DELETED.
fn render(change: &Change, node: Option<&str>) -> Option<String> {
    let matches = |p: &Option<Pod>| {
        p.as_ref()
            .is_some_and(|p| node.is_none() || node_of(p) == node)
    };
    let event = match (matches(&change.before), matches(&change.after)) {
        (true, true) => WatchEvent::Modified(change.after.clone()?),
        (false, true) => WatchEvent::Added(change.after.clone()?),
        (true, false) => WatchEvent::Deleted(change.after.clone().or(change.before.clone())?),
        (false, false) => return None,
    };
    Some(serde_json::to_string(&event).expect("json"))
}

/// A list of `items` (a Node or Namespace list), keeping those whose name a
/// `metadata.name=` field selector of `call` names.
fn list_of<K: serde::Serialize + Clone + k8s_openapi::ListableResource>(
    items: &[K],
    name: impl Fn(&K) -> Option<&str>,
    call: &Call,
) -> String {
    let wanted = call
        .param("fieldSelector")
        .and_then(|s| s.strip_prefix("metadata.name=").map(str::to_string));
    list(
        items
            .iter()
            .filter(|k| wanted.is_none() || name(k) == wanted.as_deref())
            .cloned()
            .collect(),
    )
}

fn gone() -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(410),
        reason: Some("Expired".into()),
        message: Some("too old resource version".into()),
        ..Default::default()
    };
    serde_json::to_string(&WatchEvent::<Pod>::ErrorStatus(status)).expect("json")
}

impl Stored {
    fn list(&self, node: Option<&str>) -> String {
        let items = self
            .pods
            .values()
            .filter(|p| node.is_none() || node_of(p) == node)
            .cloned()
            .collect();
        serde_json::to_string(&List::<Pod> {
            items,
            metadata: ListMeta {
                resource_version: Some(self.rv.to_string()),
                ..Default::default()
            },
        })
        .expect("json")
    }

    fn watch(&mut self, call: &Call) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        let node = selector_node(call);
        let from: u64 = call
            .param("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.rv);
        if from < self.oldest_rv {
            let _ = tx.send(gone());
            return rx; // tx dropped: the stream ends after the error
        }
        for change in self.history.iter().filter(|c| c.rv > from) {
            if let Some(line) = render(change, node.as_deref()) {
                let _ = tx.send(line);
            }
        }
        self.watchers.push(Watcher { node, tx });
        rx
    }

    fn record(&mut self, before: Option<Pod>, after: Option<Pod>, notify: bool) {
        let change = Change {
            rv: self.rv,
            before,
            after,
        };
        if notify {
            self.watchers
                .retain(|w| match render(&change, w.node.as_deref()) {
                    Some(line) => w.tx.send(line).is_ok(),
                    None => !w.tx.is_closed(),
                });
        }
        self.history.push(change);
    }

    fn handle(&mut self, call: &Call) -> Reply {
        let ok = |text| Reply::Json(StatusCode::OK, text);
        match (call.method.as_str(), call.path.as_str()) {
            ("GET", "/api/v1/pods") if call.is_watch() => Reply::Stream(self.watch(call)),
            ("GET", "/api/v1/pods") => ok(self.list(selector_node(call).as_deref())),
            ("GET", "/api/v1/nodes" | "/api/v1/namespaces") if call.is_watch() => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.quiet_watches.push(tx);
                Reply::Stream(rx)
            }
            ("GET", "/api/v1/nodes") => {
                ok(list_of(&self.nodes, |n| n.metadata.name.as_deref(), call))
            }
            ("GET", "/api/v1/namespaces") => ok(list_of(
                &self.namespaces,
                |n| n.metadata.name.as_deref(),
                call,
            )),
            // kube's event recorder: the created Event is echoed back.
            ("POST", p) if p.starts_with("/apis/events.k8s.io/v1/namespaces/") => {
                Reply::Json(StatusCode::CREATED, call.body.clone())
            }
            _ => Reply::Json(StatusCode::NOT_FOUND, not_found(&call.path)),
        }
    }
}

/// The fake API server serving a scripted cluster.
pub struct Cluster {
    api: FakeApi,
    stored: Arc<Mutex<Stored>>,
}

impl Cluster {
    /// An empty cluster: no pods, Nodes or Namespaces yet.
    pub async fn start() -> Cluster {
        let stored = Arc::new(Mutex::new(Stored::default()));
        let state = Arc::clone(&stored);
        let api = FakeApi::start(move |call| state.lock().expect("cluster").handle(call)).await;
        Cluster { api, stored }
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().expect("cluster")
    }

    pub fn add_node(&self, node: Node) {
        self.stored().nodes.push(node);
    }

    pub fn add_namespace(&self, namespace: Namespace) {
        self.stored().namespaces.push(namespace);
    }

    /// The API server goes away: listener and every connection, watches included.
    pub fn stop(&self) {
        self.api.stop();
        let mut c = self.stored();
        c.watchers.clear();
        c.quiet_watches.clear();
    }

    /// And comes back on the same address, with the same objects.
    pub async fn restart(&self) {
        self.api.restart().await;
    }

    pub fn client(&self) -> kube::Client {
        self.api.client()
    }

    /// Creates or changes `pod` (by UID); every matching watch hears of it.
    pub fn apply(&self, pod: Pod) {
        self.change(pod, true);
    }

    /// A change no watch hears about (as if its event were lost).
    pub fn apply_silently(&self, pod: Pod) {
        self.change(pod, false);
    }

    fn change(&self, mut pod: Pod, notify: bool) {
        let mut c = self.stored();
        c.rv += 1;
        pod.metadata.resource_version = Some(c.rv.to_string());
        let uid = pod.metadata.uid.clone().expect("uid");
        let before = c.pods.insert(uid, pod.clone());
        c.record(before, Some(pod), notify);
    }

    pub fn delete(&self, uid: &str) {
        let mut c = self.stored();
        c.rv += 1;
        let mut before = c.pods.remove(uid);
        if let Some(p) = before.as_mut() {
            p.metadata.resource_version = Some(c.rv.to_string());
        }
        c.record(before, None, true);
    }

    /// The watch expires: every open watch gets 410 Gone and ends, and the history
    /// is compacted, so resuming from an old resource version is refused too.
    pub fn expire(&self) {
        let mut c = self.stored();
        for w in c.watchers.drain(..) {
            let _ = w.tx.send(gone());
        }
        c.history.clear();
        c.oldest_rv = c.rv + 1;
    }

    /// How many LISTs of pods were made.
    pub fn lists(&self) -> usize {
        self.requests()
            .iter()
            .filter(|c| c.method == "GET" && c.path.starts_with("/api/v1/pods") && !c.is_watch())
            .count()
    }

    pub fn requests(&self) -> Vec<Call> {
        self.api.requests()
    }

    /// Whether a Kubernetes Event with `reason` was posted about pod `ns/name`.
    pub fn event_posted(&self, ns: &str, name: &str, reason: &str) -> bool {
        self.requests().iter().any(|c| {
            c.method == "POST"
                && c.path
                    .starts_with(&format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"))
                && c.body.contains(&format!("\"name\":\"{name}\""))
                && c.body.contains(reason)
        })
    }
}
