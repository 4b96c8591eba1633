//! Kubernetes Events the daemon publishes (refusals on pods, CPUBoost grants,
//! refusals and expiries on objects and pods), in the background: a pass does not
//! wait for the API server, and an Event that cannot be published (no RBAC for
//! Events) is a debug line, since the log and the metrics have it too.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use tracing::debug;

/// Publishes an Event `reason` with `note` on `regarding`, if there is a recorder.
pub fn publish(
    recorder: Option<&Recorder>,
    type_: EventType,
    reason: &str,
    note: String,
    regarding: &ObjectReference,
) {
    send(
        recorder,
        event(type_, reason, "Boost", note, None),
        regarding,
    );
}

/// [`publish`] on `regarding` about `related` (a CPUBoost's Event about one of its
/// pods). kube's recorder folds an Event into the series of an earlier one with the
/// same type, reason, action, object and related object, keeping the earlier note:
/// naming the pod keeps one series, and one note, per pod.
pub fn publish_related(
    recorder: Option<&Recorder>,
    type_: EventType,
    reason: &str,
    note: String,
    (regarding, related): (&ObjectReference, &ObjectReference),
) {
    let event = event(type_, reason, "Boost", note, Some(related.clone()));
    send(recorder, event, regarding);
}

/// [`publish`] with the Event's `action`: Events whose notes must all be seen, of
/// one reason on one object, need distinct actions (see [`publish_related`]).
pub fn publish_action(
    recorder: Option<&Recorder>,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    regarding: &ObjectReference,
) {
    send(
        recorder,
        event(type_, reason, action, note, None),
        regarding,
    );
}

fn event(
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
    related: Option<ObjectReference>,
) -> Event {
    Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: related,
    }
}

/// Publishes `event` in the background, if there is a recorder.
fn send(recorder: Option<&Recorder>, event: Event, regarding: &ObjectReference) {
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    let regarding = regarding.clone();
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &regarding).await {
            let name = regarding.name.unwrap_or_default();
            debug!(object = %name, "cannot publish a Kubernetes Event: {e}");
        }
    });
}
