//! The pause between a failed request of a watcher and its next one, growing until
//! a LIST really succeeds.
//!
//! kube's `default_backoff()` resets its backoff on every `Ok` item of the stream,
//! and the watcher yields `Event::Init` before each LIST it tries: against an API
//! server that fails every LIST (HTTP 500, 403, a body that is not JSON), the
//! backoff never passed its first step, and every node re-listed about once a
//! second forever. Here the backoff is reset only by what shows the API server
//! answering: a finished LIST (`InitDone`) or a watch event.

use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::runtime::utils::Backoff;
use kube::runtime::watcher::{self, DefaultBackoff, Event};

/// What the stream does before polling the watcher again.
enum Next {
    Now,
    After(Duration),
    /// The backoff gave up: the stream ends.
    Stop,
}

/// `stream` (a watcher's) with kube's watcher backoff (0.8 s doubling to 30 s, with
/// jitter) after each error, reset only once a LIST completes or a watch event
/// arrives.
pub fn relist_backoff<K, S>(stream: S) -> impl Stream<Item = Result<Event<K>, watcher::Error>>
where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
{
    with_backoff(stream, DefaultBackoff::default())
}

fn with_backoff<K, S, B>(stream: S, backoff: B) -> impl Stream<Item = S::Item>
where
    S: Stream<Item = Result<Event<K>, watcher::Error>>,
    B: Backoff,
{
    let state = (Box::pin(stream), backoff, Next::Now);
    futures::stream::unfold(state, |(mut stream, mut backoff, next)| async move {
        match next {
            Next::Now => {}
            Next::After(pause) => tokio::time::sleep(pause).await,
            Next::Stop => return None,
        }
        let item = stream.next().await?;
        let next = match &item {
            Err(_) => backoff.next().map_or(Next::Stop, Next::After),
            // The API server answered: a list is complete, or the watch delivers.
            Ok(Event::InitDone | Event::Apply(_) | Event::Delete(_)) => {
                backoff.reset();
                Next::Now
            }
            // A LIST is starting or under way: nothing has succeeded yet.
            Ok(Event::Init | Event::InitApply(_)) => Next::Now,
        };
        Some((item, (stream, backoff, next)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records its use: `Some(step)` for each pause taken, `None` for a reset.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Option<u32>>>>, u32);

    impl Iterator for Recorded {
        type Item = Duration;
        fn next(&mut self) -> Option<Duration> {
            self.1 += 1;
            self.0.lock().expect("log").push(Some(self.1));
            Some(Duration::from_millis(1))
        }
    }

    impl Backoff for Recorded {
        fn reset(&mut self) {
            self.1 = 0;
            self.0.lock().expect("log").push(None);
        }
    }

    fn failed() -> Result<Event<String>, watcher::Error> {
        Err(watcher::Error::NoResourceVersion)
    }

    #[tokio::test]
    async fn failed_lists_back_off_further_each_time_until_a_list_succeeds() {
        let events = vec![
            Ok(Event::Init),
            failed(),
            Ok(Event::Init),
            failed(),
            Ok(Event::Init),
            Ok(Event::InitApply("half a list".to_string())),
            failed(),
            Ok(Event::Init),
            Ok(Event::InitApply("a pod".to_string())),
            Ok(Event::InitDone),
            failed(),
            Ok(Event::Apply("a pod".to_string())),
        ];
        let log = Recorded::default();
        let out: Vec<_> = with_backoff(futures::stream::iter(events), log.clone())
            .collect()
            .await;
        assert_eq!(out.len(), 12, "every item is passed on");
        assert_eq!(
            *log.0.lock().expect("log"),
            [Some(1), Some(2), Some(3), None, Some(1), None],
            "three failed lists in a row take three growing steps; a finished list resets"
        );
    }
}
