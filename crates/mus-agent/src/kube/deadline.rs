//! A deadline for each request that is not a watch: its answer, body included,
//! must be complete in time, or the request fails and its caller retries.
//!
//! kube's client has no read timeout by default (one on the connection would also
//! cut watches that are quiet for minutes), and the watcher's idle timeout covers
//! watches only: a LIST the API server (or a proxy) never answers stayed pending
//! for good, and the daemon with it. A LIST of one node's pods, one Node or a page
//! of namespaces is small, so a fixed deadline is generous for all of them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::{Request, Response, Uri};
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

/// Long enough for a LIST of 500 namespaces (a page) from a busy API server;
/// short enough that a hung one is retried well before anyone notices.
pub const DEFAULT: Duration = Duration::from_secs(30);

/// The error of a request whose deadline passed.
#[derive(Debug, thiserror::Error)]
#[error("the API server did not answer within {0:?}")]
pub struct DeadlinePassed(pub Duration);

/// Whether a request is a WATCH (a stream that may stay quiet for minutes) rather
/// than a LIST, GET or write.
pub fn is_watch(uri: &Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true"))
}

/// Puts a deadline of `limit` on every request that is not a watch.
#[derive(Clone, Copy, Debug)]
pub struct DeadlineLayer {
    pub limit: Duration,
}

impl<S> Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline {
            inner,
            limit: self.limit,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Deadline<S> {
    inner: S,
    limit: Duration,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<S, ReqBody, B> Service<Request<ReqBody>> for Deadline<S>
where
    S: Service<Request<ReqBody>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = Response<TimedBody<B>>;
    type Error = BoxError;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let deadline = (!is_watch(req.uri())).then(|| Instant::now() + self.limit);
        let limit = self.limit;
        let answer = self.inner.call(req);
        Box::pin(async move {
            let Some(deadline) = deadline else {
                let response = answer.await.map_err(Into::into)?;
                return Ok(response.map(|body| TimedBody::new(body, None, limit)));
            };
            let response = tokio::time::timeout_at(deadline, answer)
                .await
                .map_err(|_| DeadlinePassed(limit))?
                .map_err(Into::into)?;
            let sleep = Box::pin(tokio::time::sleep_until(deadline));
            Ok(response.map(|body| TimedBody::new(body, Some(sleep), limit)))
        })
    }
}

/// A response body that fails once its request's deadline (if any) has passed.
pub struct TimedBody<B> {
    body: B,
    deadline: Option<Pin<Box<Sleep>>>,
    limit: Duration,
}

impl<B> TimedBody<B> {
    fn new(body: B, deadline: Option<Pin<Box<Sleep>>>, limit: Duration) -> TimedBody<B> {
        TimedBody {
            body,
            deadline,
            limit,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let limit = self.limit;
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Some(Err(DeadlinePassed(limit).into())));
        }
        Pin::new(&mut self.body).poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
