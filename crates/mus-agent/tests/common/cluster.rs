//! A scripted cluster behind the fake API server, for the watch daemon: pods, Nodes
//! and Namespaces with resource versions and a history that a WATCH from an older
//! version replays, selected by field and label selectors as the API server does
//! (an object leaving a watch's selection is a DELETED to it), 410 Gone once the
//! pods' history is compacted, and Events created as posted; CPUBoost objects
//! too, whose status subresource takes server-side apply PATCHes, each field
//! manager owning the items of `status.nodes` it applied, as the API server's
//! list-map merge does, and JSON patches (a failed `test` is a 422). A test can put
//! its own answers in front
//! ([`Cluster::start_with`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status, WatchEvent};
use kube::Resource;
use mus_agent::cpuboost::{CPUBoost, CPUBoostStatus, NodeBoost};
use tokio::sync::mpsc;

use super::api::{Call, FakeApi, Reply};
use super::labels::Selection;
use super::objects::not_found;

/// One change of one object: `before`/`after` `None` mean absent (created/deleted).
#[derive(Clone)]
struct Change<K> {
    rv: u64,
    before: Option<K>,
    after: Option<K>,
}

struct Watcher {
    selection: Selection,
    tx: mpsc::UnboundedSender<String>,
}

/// The event a watcher with `selection` sees for `change`, like the API server's
/// watch cache: an object leaving the selection is a DELETED.
fn render<K: serde::Serialize + Clone>(
    change: &Change<K>,
    selection: &Selection,
) -> Option<String> {
    let matches = |k: &Option<K>| k.as_ref().is_some_and(|k| selection.matches(k));
    let event = match (matches(&change.before), matches(&change.after)) {
        (true, true) => WatchEvent::Modified(change.after.clone()?),
        (false, true) => WatchEvent::Added(change.after.clone()?),
        (true, false) => WatchEvent::Deleted(change.after.clone().or(change.before.clone())?),
        (false, false) => return None,
    };
    Some(serde_json::to_string(&event).expect("json"))
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

/// The objects of one kind, by key, and their history.
struct Kind<K> {
    objects: BTreeMap<String, K>,
    /// Changes a watch from an older resource version replays; cleared by
    /// `expire`, after which such a watch gets 410 Gone.
    history: Vec<Change<K>>,
    oldest_rv: u64,
    watchers: Vec<Watcher>,
}

impl<K> Default for Kind<K> {
    fn default() -> Kind<K> {
        Kind {
            objects: BTreeMap::new(),
            history: Vec::new(),
            oldest_rv: 0,
            watchers: Vec::new(),
        }
    }
}

impl<K> Kind<K>
where
    K: serde::Serialize + Clone + Resource<DynamicType = ()>,
{
    /// A LIST at resource version `rv`, or a WATCH from the call's version.
    fn get(&mut self, call: &Call, rv: u64) -> Reply {
        let selection = Selection::of(call);
        if !call.is_watch() {
            let items: Vec<&K> = self
                .objects
                .values()
                .filter(|k| selection.matches(*k))
                .collect();
            let list = serde_json::json!({
                "apiVersion": K::api_version(&()),
                "kind": format!("{}List", K::kind(&())),
                "metadata": ListMeta {
                    resource_version: Some(rv.to_string()),
                    ..Default::default()
                },
                "items": items,
            });
            return Reply::Json(StatusCode::OK, list.to_string());
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let from: u64 = call
            .param("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(rv);
        if from < self.oldest_rv {
            let _ = tx.send(gone());
            return Reply::Stream(rx); // tx dropped: the stream ends after the error
        }
        for change in self.history.iter().filter(|c| c.rv > from) {
            if let Some(line) = render(change, &selection) {
                let _ = tx.send(line);
            }
        }
        self.watchers.push(Watcher { selection, tx });
        Reply::Stream(rx)
    }

    /// Sets `key` to `after` (`None`: deletes it) at resource version `rv`; every
    /// watch it concerns hears of it if `notify`.
    fn change(&mut self, key: String, after: Option<K>, rv: u64, notify: bool) {
        let after = after.map(|mut k| {
            k.meta_mut().resource_version = Some(rv.to_string());
            k
        });
        let mut before = match &after {
            Some(k) => self.objects.insert(key, k.clone()),
            None => self.objects.remove(&key),
        };
        if after.is_none()
            && let Some(k) = before.as_mut()
        {
            k.meta_mut().resource_version = Some(rv.to_string());
        }
        let change = Change { rv, before, after };
        if notify {
            self.watchers
                .retain(|w| match render(&change, &w.selection) {
                    Some(line) => w.tx.send(line).is_ok(),
                    None => !w.tx.is_closed(),
                });
        }
        self.history.push(change);
    }
}

/// What the API server holds.
#[derive(Default)]
struct Stored {
    rv: u64,
    pods: Kind<Pod>,
    nodes: Kind<Node>,
    namespaces: Kind<Namespace>,
    /// By "namespace/name".
    boosts: Kind<CPUBoost>,
    /// The `status.nodes` items each field manager applied, by object.
    applied_nodes: BTreeMap<String, BTreeMap<String, Vec<NodeBoost>>>,
}

/// The path of CPUBoosts of every namespace, and the prefix of one namespace's.
const BOOSTS: &str = "/apis/mus.patos.dev/v1alpha1/cpuboosts";
const BOOSTS_IN: &str = "/apis/mus.patos.dev/v1alpha1/namespaces/";

impl Stored {
    fn handle(&mut self, call: &Call) -> Reply {
        match (call.method.as_str(), call.path.as_str()) {
            ("GET", "/api/v1/pods") => self.pods.get(call, self.rv),
            ("GET", "/api/v1/nodes") => self.nodes.get(call, self.rv),
            ("GET", "/api/v1/namespaces") => self.namespaces.get(call, self.rv),
            ("GET", BOOSTS) => self.boosts.get(call, self.rv),
            ("PATCH", p) if p.starts_with(BOOSTS_IN) && p.ends_with("/status") => {
                self.patch_boost_status(call)
            }
            // kube's event recorder: the created Event is echoed back.
            ("POST", p) if p.starts_with("/apis/events.k8s.io/v1/namespaces/") => {
                Reply::Json(StatusCode::CREATED, call.body.clone())
            }
            _ => Reply::Json(StatusCode::NOT_FOUND, not_found(&call.path)),
        }
    }

    /// A PATCH of a CPUBoost's status: a JSON patch (a body that is a list of
    /// operations) or a server-side apply.
    fn patch_boost_status(&mut self, call: &Call) -> Reply {
        let parts: Vec<&str> = call.path[BOOSTS_IN.len()..].split('/').collect();
        let [namespace, "cpuboosts", name, "status"] = parts[..] else {
            return Reply::Json(StatusCode::NOT_FOUND, not_found(&call.path));
        };
        let key = format!("{namespace}/{name}");
        let Some(object) = self.boosts.objects.get(&key).cloned() else {
            return Reply::Json(StatusCode::NOT_FOUND, not_found(name));
        };
        let body: serde_json::Value = match serde_json::from_str(&call.body) {
            Ok(body) => body,
            Err(e) => {
                return Reply::Json(StatusCode::BAD_REQUEST, format!("{{\"message\":\"{e}\"}}"));
            }
        };
        if body.is_array() {
            self.json_patch_boost_status(key, object, body)
        } else {
            self.apply_boost_status(key, object, call, body)
        }
    }

    /// A JSON patch, applied by the json-patch crate: a failed `test` (or a path
    /// that is not there) is the API server's 422 and changes nothing. An item it
    /// removes leaves every field manager's set, as the fields an update removes do.
    fn json_patch_boost_status(
        &mut self,
        key: String,
        object: CPUBoost,
        body: serde_json::Value,
    ) -> Reply {
        let mut doc = serde_json::to_value(&object).expect("json");
        let patched = serde_json::from_value::<json_patch::Patch>(body)
            .map_err(|e| e.to_string())
            .and_then(|p| json_patch::patch(&mut doc, &p).map_err(|e| e.to_string()));
        if let Err(e) = patched {
            let status = Status {
                status: Some("Failure".into()),
                code: Some(422),
                message: Some(e),
                ..Default::default()
            };
            return Reply::Json(
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::to_string(&status).expect("json"),
            );
        }
        let object: CPUBoost = serde_json::from_value(doc).expect("a CPUBoost");
        let left = object.status.clone().unwrap_or_default().nodes;
        for items in self
            .applied_nodes
            .entry(key.clone())
            .or_default()
            .values_mut()
        {
            items.retain(|n| left.contains(n));
        }
        self.store_boost(key, object)
    }

    /// A server-side apply of a CPUBoost's status by the call's field manager: the
    /// other fields as applied, `status.nodes` the union of every manager's items.
    fn apply_boost_status(
        &mut self,
        key: String,
        mut object: CPUBoost,
        call: &Call,
        body: serde_json::Value,
    ) -> Reply {
        let mut status: CPUBoostStatus =
            serde_json::from_value(body["status"].clone()).expect("a CPUBoost status");
        let manager = call.param("fieldManager").unwrap_or_default();
        let managers = self.applied_nodes.entry(key.clone()).or_default();
        managers.insert(manager, std::mem::take(&mut status.nodes));
        status.nodes = managers.values().flatten().cloned().collect();
        status.nodes.sort();
        object.status = Some(status);
        self.store_boost(key, object)
    }

    /// Stores a patched CPUBoost, and answers with it.
    fn store_boost(&mut self, key: String, object: CPUBoost) -> Reply {
        let rv = self.next_rv();
        self.boosts.change(key, Some(object.clone()), rv, true);
        Reply::Json(
            StatusCode::OK,
            serde_json::to_string(&object).expect("json"),
        )
    }

    fn next_rv(&mut self) -> u64 {
        self.rv += 1;
        self.rv
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
        Cluster::start_with(|_| None).await
    }

    /// An empty cluster whose answer to a request is `first`'s when it has one.
    pub async fn start_with(
        first: impl Fn(&Call) -> Option<Reply> + Send + Sync + 'static,
    ) -> Cluster {
        let stored = Arc::new(Mutex::new(Stored::default()));
        let state = Arc::clone(&stored);
        let api = FakeApi::start(move |call| {
            first(call).unwrap_or_else(|| state.lock().expect("cluster").handle(call))
        })
        .await;
        Cluster { api, stored }
    }

    fn stored(&self) -> std::sync::MutexGuard<'_, Stored> {
        self.stored.lock().expect("cluster")
    }

    pub fn add_node(&self, node: Node) {
        let mut c = self.stored();
        let rv = c.next_rv();
        let name = node.metadata.name.clone().expect("name");
        c.nodes.change(name, Some(node), rv, true);
    }

    /// Creates or changes `namespace` (by name); every watch it concerns hears of it.
    pub fn add_namespace(&self, namespace: Namespace) {
        let mut c = self.stored();
        let rv = c.next_rv();
        let name = namespace.metadata.name.clone().expect("name");
        c.namespaces.change(name, Some(namespace), rv, true);
    }

    /// The API server goes away: listener and every connection, watches included.
    pub fn stop(&self) {
        self.api.stop();
        let mut c = self.stored();
        c.pods.watchers.clear();
        c.nodes.watchers.clear();
        c.namespaces.watchers.clear();
        c.boosts.watchers.clear();
    }

    /// And comes back on the same address, with the same objects.
    pub async fn restart(&self) {
        self.api.restart().await;
    }

    pub fn client(&self) -> kube::Client {
        self.api.client()
    }

    /// Its address, for a kubeconfig ([`crate::common::child::AgentFiles`]).
    pub fn url(&self) -> String {
        self.api.url()
    }

    /// The agent's client, whose requests other than watches fail after `deadline`.
    pub fn client_with_deadline(&self, deadline: std::time::Duration) -> kube::Client {
        self.api.client_with_deadline(deadline)
    }

    /// Creates or changes `pod` (by UID); every matching watch hears of it.
    pub fn apply(&self, pod: Pod) {
        self.change(pod, true);
    }

    /// A change no watch hears about (as if its event were lost).
    pub fn apply_silently(&self, pod: Pod) {
        self.change(pod, false);
    }

    fn change(&self, pod: Pod, notify: bool) {
        let mut c = self.stored();
        let rv = c.next_rv();
        let uid = pod.metadata.uid.clone().expect("uid");
        c.pods.change(uid, Some(pod), rv, notify);
    }

    /// Creates or changes a CPUBoost object (by namespace and name), its status
    /// left as the agents wrote it unless `boost` has one.
    pub fn apply_boost(&self, mut boost: CPUBoost) {
        let mut c = self.stored();
        let rv = c.next_rv();
        let key = format!(
            "{}/{}",
            boost.metadata.namespace.as_deref().expect("namespace"),
            boost.metadata.name.as_deref().expect("name")
        );
        if boost.status.is_none() {
            boost.status = c.boosts.objects.get(&key).and_then(|b| b.status.clone());
        }
        c.boosts.change(key, Some(boost), rv, true);
    }

    pub fn delete_boost(&self, namespace: &str, name: &str) {
        let mut c = self.stored();
        let rv = c.next_rv();
        let key = format!("{namespace}/{name}");
        c.applied_nodes.remove(&key);
        c.boosts.change(key, None, rv, true);
    }

    /// A server-side apply of `status` on CPUBoost `namespace/name` by field
    /// manager `manager` (another node's agent), as the agent sends one.
    pub fn apply_boost_status(
        &self,
        manager: &str,
        namespace: &str,
        name: &str,
        status: &CPUBoostStatus,
    ) {
        let call = Call {
            method: "PATCH".into(),
            path: format!("{BOOSTS_IN}{namespace}/cpuboosts/{name}/status"),
            query: format!("fieldManager={}&force=true", manager.replace('/', "%2F")),
            body: serde_json::json!({ "status": status }).to_string(),
            at: std::time::Instant::now(),
        };
        self.stored().patch_boost_status(&call);
    }

    /// The CPUBoost object as the API server holds it now.
    pub fn boost(&self, namespace: &str, name: &str) -> Option<CPUBoost> {
        self.stored()
            .boosts
            .objects
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// The status PATCHes of CPUBoost `name` so far.
    pub fn status_patches(&self, name: &str) -> Vec<Call> {
        self.requests()
            .into_iter()
            .filter(|c| {
                c.method == "PATCH" && c.path.ends_with(&format!("/cpuboosts/{name}/status"))
            })
            .collect()
    }

    pub fn delete(&self, uid: &str) {
        let mut c = self.stored();
        let rv = c.next_rv();
        c.pods.change(uid.to_string(), None, rv, true);
    }

    /// The watch expires: every open watch gets 410 Gone and ends, and the history
    /// is compacted, so resuming from an old resource version is refused too.
    pub fn expire(&self) {
        let mut c = self.stored();
        let oldest = c.rv + 1;
        let pods = &mut c.pods;
        for w in pods.watchers.drain(..) {
            let _ = w.tx.send(gone());
        }
        pods.history.clear();
        pods.oldest_rv = oldest;
    }

    /// How many LISTs of pods were made.
    pub fn lists(&self) -> usize {
        self.lists_of("/api/v1/pods").len()
    }

    /// The LISTs of the resource at `path` made so far.
    pub fn lists_of(&self, path: &str) -> Vec<Call> {
        self.requests()
            .into_iter()
            .filter(|c| c.method == "GET" && c.path == path && !c.is_watch())
            .collect()
    }

    pub fn requests(&self) -> Vec<Call> {
        self.api.requests()
    }

    /// Whether a Kubernetes Event with `reason` was posted about the object `ns/name`
    /// (a pod, a CPUBoost) whose note contains `note`.
    pub fn event_with(&self, ns: &str, name: &str, reason: &str, note: &str) -> bool {
        self.requests().iter().any(|c| {
            c.method == "POST"
                && c.path
                    .starts_with(&format!("/apis/events.k8s.io/v1/namespaces/{ns}/events"))
                && c.body.contains(&format!("\"name\":\"{name}\""))
                && c.body.contains(&format!("\"reason\":\"{reason}\""))
                && c.body.contains(note)
        })
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
