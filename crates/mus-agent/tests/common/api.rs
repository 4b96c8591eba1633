//! The fake Kubernetes API server on 127.0.0.1: real hyper HTTP/1.1 and real
//! Kubernetes JSON, so the real kube client is what is tested. A test gives it a
//! handler from request to [`Reply`]; the server logs every request, and can go
//! away and come back on the same address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// One request, as the server received it.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The raw query, percent-encoded; [`Call::param`] decodes one parameter.
    pub query: String,
    pub body: String,
    /// When the server received it.
    pub at: Instant,
}

impl Call {
    /// The decoded value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<String> {
        query_param(&self.query, key)
    }

    /// A WATCH rather than a LIST or GET.
    pub fn is_watch(&self) -> bool {
        self.param("watch").as_deref() == Some("true")
    }
}

/// What the server answers to one request.
pub enum Reply {
    Json(StatusCode, String),
    /// A watch: newline-delimited events, as long as the sender lives.
    Stream(mpsc::UnboundedReceiver<String>),
    /// No answer at all, not even headers: a hung API server or proxy.
    Hang,
}

type Handler = dyn Fn(&Call) -> Reply + Send + Sync;

/// Watches that stay open and quiet while this lives, for a handler whose objects
/// do not change.
#[derive(Default)]
pub struct QuietWatches(Mutex<Vec<mpsc::UnboundedSender<String>>>);

impl QuietWatches {
    /// The reply to one more such watch.
    pub fn open(&self) -> Reply {
        let (tx, rx) = mpsc::unbounded_channel();
        self.0.lock().expect("watches").push(tx);
        Reply::Stream(rx)
    }
}

pub struct FakeApi {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Call>>>,
    handler: Arc<Handler>,
    /// The listener's task and one per connection, for [`FakeApi::stop`].
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeApi {
    /// Serves `handler` until the test's runtime ends.
    pub async fn start(handler: impl Fn(&Call) -> Reply + Send + Sync + 'static) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let api = FakeApi {
            addr: listener.local_addr().expect("addr"),
            requests: Arc::default(),
            handler: Arc::new(handler),
            tasks: Arc::default(),
        };
        api.serve(listener);
        api
    }

    fn serve(&self, listener: TcpListener) {
        let handler = Arc::clone(&self.handler);
        let log = Arc::clone(&self.requests);
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                let log = Arc::clone(&log);
                let conn = tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let handler = Arc::clone(&handler);
                        let log = Arc::clone(&log);
                        async move {
                            let call = call_of(req).await;
                            log.lock().expect("log").push(call.clone());
                            let reply = handler(&call);
                            if let Reply::Hang = reply {
                                futures::future::pending::<()>().await;
                            }
                            Ok::<_, Infallible>(respond(reply))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
                tasks.lock().expect("tasks").push(conn);
            }
        });
        self.tasks.lock().expect("tasks").push(accept);
    }

    /// The server goes away: its listener and every connection, watches included.
    pub fn stop(&self) {
        for task in self.tasks.lock().expect("tasks").drain(..) {
            task.abort();
        }
    }

    /// And comes back on the same address, with the same handler.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.expect("rebind");
        self.serve(listener);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Call> {
        self.requests.lock().expect("log").clone()
    }

    /// A kube configuration pointing at this server, as a kubeconfig file would.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(self.url().parse().expect("uri"))
    }

    /// The agent's kube client of this server.
    pub fn client(&self) -> kube::Client {
        self.client_with_deadline(mus_agent::kube::deadline::DEFAULT)
    }

    /// The agent's kube client, whose requests other than watches fail after `deadline`.
    pub fn client_with_deadline(&self, deadline: Duration) -> kube::Client {
        mus_agent::kube::client::client(self.config(), deadline).expect("client")
    }
}

async fn call_of(req: Request<hyper::body::Incoming>) -> Call {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    Call {
        method,
        path,
        query,
        body,
        at: Instant::now(),
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
        Reply::Hang => unreachable!("a hung request is never answered"),
    };
    response.expect("response")
}

/// The decoded value of `key` in a raw query.
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
