//! A fake Kubernetes API server on 127.0.0.1: real hyper HTTP/1.1, real Kubernetes
//! JSON built from k8s-openapi types, so the real kube client is what is tested.
#![allow(dead_code)] // each test binary uses its own part of this module

pub mod bpffs;
pub mod child;
pub mod manifests;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use k8s_openapi::List;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus, Node, NodeStatus, NodeSystemInfo, Pod, PodSpec,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status, WatchEvent};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What the server answers to one request.
pub enum Reply {
    Json(StatusCode, String),
    /// A watch: newline-delimited events, as long as the sender lives.
    Stream(mpsc::UnboundedReceiver<String>),
}

type Handler = dyn Fn(&str, &str) -> Reply + Send + Sync;

pub struct FakeApi {
    pub addr: SocketAddr,
    /// `path?query` of every request, in order.
    pub requests: Arc<Mutex<Vec<String>>>,
}

impl FakeApi {
    /// Serves `handler(path, query)` until the test's runtime ends.
    pub async fn start(handler: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let log = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let path = req.uri().path().to_string();
                        let query = req.uri().query().unwrap_or("").to_string();
                        log.lock().expect("log").push(format!("{path}?{query}"));
                        let reply = handler(&path, &query);
                        async move { Ok::<_, Infallible>(respond(reply)) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeApi { addr, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("log").clone()
    }

    /// A kube configuration pointing at this server, as a kubeconfig file would.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url().parse().expect("uri"))
    }
}

fn respond(reply: Reply) -> Response<Body> {
    let builder = Response::builder().header("content-type", "application/json");
    let response = match reply {
        Reply::Json(status, text) => builder
            .status(status)
            .body(Full::new(Bytes::from(text)).boxed_unsync()),
        Reply::Stream(rx) => {
            let frames = futures::stream::unfold(rx, |mut rx| async move {
                let line = rx.recv().await?;
                Some((
                    Ok::<_, Infallible>(Frame::data(Bytes::from(line + "\n"))),
                    rx,
                ))
            });
            builder
                .status(StatusCode::OK)
                .body(StreamBody::new(frames.boxed()).boxed_unsync())
        }
    };
    response.expect("response")
}

/// The status code (0 if there is none) and the body of a raw HTTP/1.1 response,
/// as the tests of the agent's own HTTP endpoint read it off the socket.
pub fn status_and_body(response: &str) -> (u16, String) {
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// `key=value` pairs of a query, decoded.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// How a test container is doing.
#[derive(Clone, Copy)]
pub enum State {
    Running,
    Waiting,
    Terminated,
    NoStatus,
}

pub struct PodSpecOf<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub node: &'a str,
    pub qos: &'a str,
    pub phase: &'a str,
    /// (container name, container ID, state)
    pub containers: Vec<(&'a str, &'a str, State)>,
}

pub fn pod(p: PodSpecOf<'_>) -> Pod {
    let statuses = p
        .containers
        .iter()
        .filter(|(_, _, s)| !matches!(s, State::NoStatus))
        .map(|(name, id, state)| ContainerStatus {
            name: name.to_string(),
            container_id: Some(id.to_string()),
            image: "registry.local/app:1".into(),
            image_id: "sha256:00".into(),
            ready: matches!(state, State::Running),
            restart_count: 0,
            state: Some(match state {
                State::Running => ContainerState {
                    running: Some(ContainerStateRunning::default()),
                    ..Default::default()
                },
                State::Waiting => ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("CrashLoopBackOff".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                State::Terminated | State::NoStatus => ContainerState {
                    terminated: Some(ContainerStateTerminated {
                        reason: Some("Completed".into()),
                        exit_code: 0,
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            }),
            ..Default::default()
        })
        .collect();
    Pod {
        metadata: ObjectMeta {
            name: Some(p.name.into()),
            namespace: Some(p.namespace.into()),
            uid: Some(p.uid.into()),
            resource_version: Some("10".into()),
            labels: Some(BTreeMap::from([("app".to_string(), p.name.to_string())])),
            ..Default::default()
        },
        spec: Some(PodSpec {
            node_name: Some(p.node.into()),
            containers: p
                .containers
                .iter()
                .map(|(name, _, _)| Container {
                    name: name.to_string(),
                    image: Some("registry.local/app:1".into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
        status: Some(PodStatus {
            phase: Some(p.phase.into()),
            qos_class: Some(p.qos.into()),
            container_statuses: Some(statuses),
            ..Default::default()
        }),
    }
}

/// A Node with `cpu` allocatable and boot ID `boot`.
pub fn a_node(name: &str, cpu: &str, boot: &str) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(name.into()),
            resource_version: Some("1".into()),
            ..Default::default()
        },
        status: Some(NodeStatus {
            allocatable: Some(BTreeMap::from([("cpu".to_string(), Quantity(cpu.into()))])),
            node_info: Some(NodeSystemInfo {
                boot_id: boot.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A Kubernetes list of `items` (Pods, Nodes, Namespaces), as a LIST answers.
pub fn list<K: serde::Serialize + k8s_openapi::ListableResource>(items: Vec<K>) -> String {
    let list = List::<K> {
        items,
        metadata: ListMeta {
            resource_version: Some("100".into()),
            ..Default::default()
        },
    };
    serde_json::to_string(&list).expect("json")
}

pub fn pod_list(items: Vec<Pod>) -> String {
    list(items)
}

pub fn event(e: WatchEvent<Pod>) -> String {
    serde_json::to_string(&e).expect("json")
}

/// The Status the API server sends with a 403.
pub fn forbidden(verb: &str) -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(403),
        reason: Some("Forbidden".into()),
        message: Some(format!(
            "pods is forbidden: User \"system:serviceaccount:default:mus\" cannot {verb} resource \"pods\" in API group \"\" at the cluster scope"
        )),
        ..Default::default()
    };
    serde_json::to_string(&status).expect("json")
}

pub fn not_found(name: &str) -> String {
    let status = Status {
        status: Some("Failure".into()),
        code: Some(404),
        reason: Some("NotFound".into()),
        message: Some(format!("pods \"{name}\" not found")),
        ..Default::default()
    };
    serde_json::to_string(&status).expect("json")
}
