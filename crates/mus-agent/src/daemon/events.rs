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
    let Some(recorder) = recorder.cloned() else {
        return;
    };
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: "Boost".into(),
        secondary: None,
    };
    let regarding = regarding.clone();
    tokio::spawn(async move {
        if let Err(e) = recorder.publish(&event, &regarding).await {
            let name = regarding.name.unwrap_or_default();
            debug!(object = %name, "cannot publish a Kubernetes Event: {e}");
        }
    });
}
