//! Kubernetes discovery: the pods of this node, one row per container.
//!
//! Only this node's pods matter (a cgroup on another machine cannot be boosted from
//! here), so every request carries the `spec.nodeName` field selector and the API
//! server does the filtering. The live view is a `kube::runtime` reflector: a LIST
//! followed by a WATCH that reconnects by itself.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};

use crate::kube::relist_backoff::relist_backoff;
use crate::kube::{client as kube_client, deadline};
use crate::pod::{ContainerRow, rows_of_pods};

/// How to reach the API server; every field `None` means kube's usual inference
/// (KUBECONFIG, ~/.kube/config, then the in-cluster service account).
#[derive(Clone, Debug, Default)]
pub struct KubeOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error(
        "no usable Kubernetes configuration: {0} (pass --kubeconfig, set KUBECONFIG, or run in a pod)"
    )]
    Config(String),
    #[error("the kubeconfig {path} cannot be used: {problem}")]
    Kubeconfig { path: PathBuf, problem: String },
    #[error(
        "cannot set up a Kubernetes client for {url}: {reason} (a kubeconfig that names no certificate authority needs the system's CA certificates: install ca-certificates, or add certificate-authority-data)"
    )]
    Client { url: String, reason: String },
    #[error("the Kubernetes API at {url} is unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error(
        "forbidden: this identity may not {verb} {resource} {scope}; grant it RBAC verb \"{verb}\" on resource \"{resource}\" (API server said: {message})"
    )]
    Forbidden {
        verb: &'static str,
        resource: &'static str,
        scope: String,
        message: String,
    },
    #[error("{what} was not found")]
    NotFound { what: String },
    #[error(
        "{url} is not a Kubernetes API server: it answered HTTP {code} {body:?} to {verb} {resource}; check the server URL of the kubeconfig's cluster"
    )]
    NotKubernetes {
        url: String,
        code: u16,
        body: String,
        verb: &'static str,
        resource: &'static str,
    },
    #[error("the Kubernetes API failed to {verb} {resource}: {message}")]
    Api {
        verb: &'static str,
        resource: &'static str,
        message: String,
    },
}

/// The request that failed, so an error can say which RBAC rule is missing.
#[derive(Clone, Copy, Debug)]
struct Request<'a> {
    verb: &'static str,
    namespace: Option<&'a str>,
}

impl Request<'_> {
    fn scope(&self) -> String {
        match self.namespace {
            Some(ns) => format!("in namespace {ns}"),
            None => "in all namespaces".to_string(),
        }
    }
}

/// The client configuration. An explicit `--kubeconfig` or `--context` wins;
/// otherwise kube infers (KUBECONFIG, ~/.kube/config, in-cluster).
pub async fn config(opts: &KubeOptions) -> Result<Config, DiscoveryError> {
    let options = KubeConfigOptions {
        context: opts.context.clone(),
        ..Default::default()
    };
    let config = match (&opts.kubeconfig, &opts.context) {
        (Some(path), _) => {
            let unusable = |e: KubeconfigError| DiscoveryError::Kubeconfig {
                path: path.clone(),
                problem: kubeconfig_problem(&e),
            };
            let kubeconfig = Kubeconfig::read_from(path).map_err(unusable)?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(unusable)?
        }
        (None, Some(_)) => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| DiscoveryError::Config(kubeconfig_problem(&e)))?,
        (None, None) => Config::infer()
            .await
            .map_err(|e| DiscoveryError::Config(first_line(&e.to_string())))?,
    };
    Ok(config)
}

/// What is wrong with a kubeconfig, in one line: the YAML parser's message without
/// its multi-line code frame, and without kube's repetition of the file name.
fn kubeconfig_problem(e: &KubeconfigError) -> String {
    match e {
        KubeconfigError::Parse(yaml) => {
            format!(
                "it is not valid YAML: {}",
                first_line(&yaml.without_snippet().to_string())
            )
        }
        KubeconfigError::ReadConfig(io, _) => format!("cannot read it: {io}"),
        other => first_line(&other.to_string()),
    }
}

fn first_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_string()
}

/// Whether this process runs in a Kubernetes pod: the kubelet sets
/// `KUBERNETES_SERVICE_HOST` in every container.
pub fn in_pod() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// A client for `config`, or why none can be built. The configuration was read;
/// what fails here is building the TLS client (e.g. no CA in the kubeconfig and
/// none on the system), which no flag fixes.
pub fn client(config: Config) -> Result<Client, DiscoveryError> {
    let url = config.cluster_url.to_string();
    kube_client::client(config, deadline::DEFAULT).map_err(|e| DiscoveryError::Client {
        url,
        reason: e.to_string(),
    })
}

/// This node's name: `--node`/NODE_NAME when given (clap folds the two), else the
/// hostname, which is what kubelet registers by default.
pub fn node_name(given: Option<&str>) -> Result<String, DiscoveryError> {
    if let Some(node) = given.filter(|n| !n.is_empty()) {
        return Ok(node.to_string());
    }
    let host = nix::unistd::gethostname().map_err(|e| {
        DiscoveryError::Config(format!("cannot read the hostname ({e}); pass --node"))
    })?;
    host.into_string()
        .map(|h| h.to_lowercase())
        .map_err(|_| DiscoveryError::Config("the hostname is not UTF-8; pass --node".into()))
}

/// The pods of one node, through one API client.
#[derive(Clone)]
pub struct Discovery {
    client: Client,
    node: String,
    url: String,
}

impl Discovery {
    /// A discovery for `node`. Takes the configuration rather than a client because
    /// kube's `Client` hides its base URL, which errors should name.
    pub fn new(config: Config, node: String) -> Result<Discovery, DiscoveryError> {
        let url = config.cluster_url.to_string();
        let client = client(config)?;
        Ok(Discovery { client, node, url })
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn field_selector(&self) -> String {
        format!("spec.nodeName={}", self.node)
    }

    /// One LIST of this node's pods, all namespaces.
    pub async fn list(&self) -> Result<Vec<ContainerRow>, DiscoveryError> {
        let api: Api<Pod> = Api::all(self.client.clone());
        let params = ListParams::default().fields(&self.field_selector());
        let pods = api.list(&params).await.map_err(|e| {
            self.error(
                e,
                Request {
                    verb: "list",
                    namespace: None,
                },
            )
        })?;
        Ok(rows_of_pods(&pods.items))
    }

    /// One pod by name, wherever it runs (the caller checks the node, so it can say
    /// "not on this node" rather than "not found").
    pub async fn get_pod(&self, namespace: &str, name: &str) -> Result<Pod, DiscoveryError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        // Not `get_opt`: it reads any 404 as "no such pod", a wrong URL's included.
        match api.get(name).await {
            Ok(pod) => Ok(pod),
            Err(kube::Error::Api(status)) if is_kubernetes_not_found(&status) => {
                Err(DiscoveryError::NotFound {
                    what: format!("pod {namespace}/{name}"),
                })
            }
            Err(e) => Err(self.error(
                e,
                Request {
                    verb: "get",
                    namespace: Some(namespace),
                },
            )),
        }
    }

    /// Starts the live view: a reflector fed by a watcher on this node's pods.
    /// The task runs until the returned [`LiveView`] is dropped.
    pub fn watch(&self) -> LiveView {
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields(&self.field_selector());
        let (store, writer) = reflector::store();
        let last_error = Arc::new(Mutex::new(None));
        let errors = Arc::clone(&last_error);
        let this = self.clone();
        let stream =
            relist_backoff(reflector::reflector(writer, watcher(api, config))).touched_objects();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                // Keep only the latest problem: the view shows it until the next
                // event succeeds, and the watcher retries with backoff meanwhile.
                let problem = event.err().map(|e| this.watch_error(e));
                if let Ok(mut slot) = errors.lock() {
                    *slot = problem;
                }
            }
        });
        LiveView {
            store,
            last_error,
            task,
        }
    }

    fn watch_error(&self, e: watcher::Error) -> DiscoveryError {
        let list = Request {
            verb: "list",
            namespace: None,
        };
        let watch = Request {
            verb: "watch",
            namespace: None,
        };
        match e {
            watcher::Error::InitialListFailed(e) => self.error(e, list),
            watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
                self.error(e, watch)
            }
            watcher::Error::WatchError(status) => self.error(kube::Error::Api(status), watch),
            other => DiscoveryError::Api {
                verb: "watch",
                resource: "pods",
                message: other.to_string(),
            },
        }
    }

    fn error(&self, e: kube::Error, req: Request<'_>) -> DiscoveryError {
        match e {
            kube::Error::Api(status) if status.code == 403 => DiscoveryError::Forbidden {
                verb: req.verb,
                resource: "pods",
                scope: req.scope(),
                message: status.message.clone(),
            },
            kube::Error::Api(status) if is_kubernetes_not_found(&status) => {
                DiscoveryError::NotFound {
                    what: status.message.clone(),
                }
            }
            kube::Error::Api(status) if status.code == 404 => DiscoveryError::NotKubernetes {
                url: self.url.clone(),
                code: status.code,
                body: status.message.chars().take(80).collect(),
                verb: req.verb,
                resource: "pods",
            },
            kube::Error::Api(status) => DiscoveryError::Api {
                verb: req.verb,
                resource: "pods",
                message: format!("{} ({})", status.message, status.code),
            },
            e @ (kube::Error::HyperError(_) | kube::Error::Service(_)) => {
                DiscoveryError::Unreachable {
                    url: self.url.clone(),
                    reason: root_cause(&e),
                }
            }
            e => DiscoveryError::Api {
                verb: req.verb,
                resource: "pods",
                message: e.to_string(),
            },
        }
    }
}

/// A 404 from the API server itself: a `Status` whose reason is NotFound. Any other
/// 404 (a plain "404 page not found") comes from something that is not Kubernetes.
fn is_kubernetes_not_found(status: &kube::core::Status) -> bool {
    status.code == 404 && status.reason == "NotFound"
}

/// The innermost cause, which is where "Connection refused" lives.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The live list of this node's pods; the watch stops when this is dropped.
pub struct LiveView {
    store: Store<Pod>,
    last_error: Arc<Mutex<Option<DiscoveryError>>>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveView {
    /// Waits for the first complete LIST (or returns at once if it is already in).
    pub async fn ready(&self) -> bool {
        self.store.wait_until_ready().await.is_ok()
    }

    /// The current rows, sorted.
    pub fn rows(&self) -> Vec<ContainerRow> {
        let pods = self.store.state();
        rows_of_pods(pods.iter().map(|p| p.as_ref()))
    }

    /// The last watch failure, if the watch is failing now (message only: the error
    /// itself stays in place for the next caller).
    pub fn problem(&self) -> Option<String> {
        self.last_error
            .lock()
            .ok()
            .and_then(|e| e.as_ref().map(|e| e.to_string()))
    }
}

impl Drop for LiveView {
    fn drop(&mut self) {
        self.task.abort();
    }
}
