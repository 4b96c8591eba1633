//! The items of a CPUBoost's `status.nodes` whose node no longer exists (a node pool
//! scaled down, a VM replaced): their agent is gone with the node, so nobody else
//! would ever remove them, and the totals and the Active condition would count them
//! for good. Every agent removes them, every `prune_interval`, from what a complete
//! LIST of the Nodes says.
//!
//! Safe by construction rather than by coordination:
//! - the CPUBoost objects are read (the watch's store) before the Nodes are listed.
//!   An agent writes its item only once its Node exists, so a node that wrote an
//!   item we read was created before the LIST, which (no resourceVersion: a
//!   consistent read) has it unless it was deleted since; a Node created after the
//!   LIST has no item in what we read, and nothing but what we read is removed;
//! - a LIST that fails on any page, or that lacks this node's own Node, removes
//!   nothing;
//! - each removal is a JSON patch that first tests that the item's index still
//!   names that node: server-side apply cannot drop another field manager's item,
//!   and the test makes two agents pruning at once (or an item moved by a write in
//!   between) fail cleanly instead of removing the wrong one. Such a failure (the
//!   API server answers 422; 409 and 404 mean the object changed or went too) is
//!   left to the next round, which reads the object again.
//!
//! The totals and conditions are not patched here: the removal is a change of the
//! object, so every agent's next pass computes them again from the `nodes` left
//! (`cpuboost::status::desired`) and applies them as it does after any other
//! agent's write.

use std::collections::BTreeSet;
use std::sync::Arc;

use json_patch::jsonptr::PointerBuf;
use json_patch::{Patch, PatchOperation, RemoveOperation, TestOperation};
use k8s_openapi::api::core::v1::Node;
use kube::Client;
use kube::api::{Api, ListParams, Patch as KubePatch, PatchParams};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::cpuboost::status::field_manager;
use crate::cpuboost::{BoostRef, CPUBoost};

/// Nodes per page of the LIST: a page of names only, whatever the cluster's size.
const PAGE: u32 = 500;

/// Why a round removed nothing, or stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("cannot list the Nodes: {0}")]
    ListNodes(#[source] kube::Error),
    /// This node's own Node is missing: the answer cannot be the whole list.
    #[error("the list of Nodes lacks this node's own Node {node}: taken as incomplete")]
    Incomplete { node: String },
    #[error("cannot remove the items of deleted nodes from {boost}'s status: {source}")]
    Patch {
        boost: BoostRef,
        #[source]
        source: kube::Error,
    },
}

/// An object's items whose node no longer exists: (index in `status.nodes`, node),
/// as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stale {
    pub boost: BoostRef,
    pub items: Vec<(usize, String)>,
}

/// What a round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Items removed.
    pub removed: usize,
    /// Objects that changed between the read and the patch: left to the next round.
    pub raced: usize,
}

/// The items of `boosts` whose node is not in `existing`.
pub fn stale(boosts: &[Arc<CPUBoost>], existing: &BTreeSet<String>) -> Vec<Stale> {
    boosts
        .iter()
        .filter_map(|b| {
            let items: Vec<(usize, String)> = b
                .status
                .as_ref()?
                .nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| !existing.contains(&n.node))
                .map(|(i, n)| (i, n.node.clone()))
                .collect();
            (!items.is_empty()).then(|| Stale {
                boost: BoostRef::of(b),
                items,
            })
        })
        .collect()
}

/// The JSON patch that removes `items`, each only if its index still names its
/// node; the highest index first, so that a removal does not move the next one.
pub fn removal(items: &[(usize, String)]) -> Patch {
    let mut items = items.to_vec();
    items.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
    Patch(
        items
            .iter()
            .flat_map(|(i, node)| {
                let item =
                    PointerBuf::from_tokens(["status".into(), "nodes".into(), i.to_string()]);
                let mut name = item.clone();
                name.push_back("node");
                [
                    PatchOperation::Test(TestOperation {
                        path: name,
                        value: node.as_str().into(),
                    }),
                    PatchOperation::Remove(RemoveOperation { path: item }),
                ]
            })
            .collect(),
    )
}

/// Whether any object has an item of a node other than `node`: without one there
/// is nothing to prune, and no LIST is needed.
fn others(boosts: &[Arc<CPUBoost>], node: &str) -> bool {
    boosts
        .iter()
        .filter_map(|b| b.status.as_ref())
        .any(|s| s.nodes.iter().any(|n| n.node != node))
}

/// The names of every Node, page by page: all of them, or an error.
pub async fn node_names(api: &Api<Node>) -> Result<BTreeSet<String>, kube::Error> {
    let mut names = BTreeSet::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list_metadata(&params).await?;
        names.extend(page.items.into_iter().filter_map(|n| n.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(names),
        }
    }
}

/// One round on `boosts` (read before this call) by `node`'s agent.
pub async fn prune(
    client: Client,
    node: &str,
    boosts: &[Arc<CPUBoost>],
) -> Result<Pruned, PruneError> {
    let mut pruned = Pruned::default();
    if !others(boosts, node) {
        return Ok(pruned);
    }
    let existing = node_names(&Api::all(client.clone()))
        .await
        .map_err(PruneError::ListNodes)?;
    if !existing.contains(node) {
        return Err(PruneError::Incomplete { node: node.into() });
    }
    let params = PatchParams {
        field_manager: Some(field_manager(node)),
        ..PatchParams::default()
    };
    for s in stale(boosts, &existing) {
        let api: Api<CPUBoost> = Api::namespaced(client.clone(), &s.boost.namespace);
        let gone: Vec<&str> = s.items.iter().map(|(_, n)| n.as_str()).collect();
        match api
            .patch_status(
                &s.boost.name,
                &params,
                &KubePatch::Json::<()>(removal(&s.items)),
            )
            .await
        {
            Ok(_) => {
                pruned.removed += s.items.len();
                info!(cpuboost = %s.boost, "{}: removed the status items of node(s) {} (no such Node any more)", s.boost, gone.join(", "));
            }
            Err(kube::Error::Api(e)) if [404, 409, 422].contains(&e.code) => {
                pruned.raced += 1;
                debug!(cpuboost = %s.boost, "{}: changed since read ({}); its items of node(s) {} are left to the next round", s.boost, e.message, gone.join(", "));
            }
            Err(source) => {
                return Err(PruneError::Patch {
                    boost: s.boost,
                    source,
                });
            }
        }
    }
    Ok(pruned)
}

/// Runs rounds in the background, one at a time.
pub struct Pruner {
    client: Client,
    node: String,
    round: Option<JoinHandle<()>>,
}

impl Pruner {
    pub fn new(client: Client, node: String) -> Pruner {
        Pruner {
            client,
            node,
            round: None,
        }
    }

    /// Starts a round on `boosts`, unless the last one is still running (a slow API
    /// server): rounds never pile up.
    pub fn start(&mut self, boosts: Vec<Arc<CPUBoost>>) {
        if self.round.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        let (client, node) = (self.client.clone(), self.node.clone());
        self.round = Some(tokio::spawn(async move {
            // Nothing is lost by a failed round: the next one reads everything again.
            if let Err(e) = prune(client, &node, &boosts).await {
                warn!("{e}; retried next round");
            }
        }));
    }
}

impl Drop for Pruner {
    fn drop(&mut self) {
        if let Some(round) = &self.round {
            round.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpuboost::{CPUBoostStatus, NodeBoost};

    fn boost(name: &str, nodes: &[&str]) -> Arc<CPUBoost> {
        let mut b: CPUBoost = serde_json::from_value(serde_json::json!({
            "apiVersion": "mus.patos.dev/v1alpha1",
            "kind": "CPUBoost",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"podName": "redis-0", "duration": "30m", "reason": "r"},
        }))
        .expect("object");
        b.status = Some(CPUBoostStatus {
            nodes: nodes
                .iter()
                .map(|n| NodeBoost {
                    node: n.to_string(),
                    pods: 1,
                    weight: 4096,
                    auto_problem: None,
                })
                .collect(),
            ..Default::default()
        });
        Arc::new(b)
    }

    #[test]
    fn only_the_items_of_nodes_not_listed_are_removed_each_after_a_test() {
        let boosts = [
            boost("a", &["gone-1", "node-a", "gone-2"]),
            boost("b", &["node-a", "node-b"]),
        ];
        let existing = BTreeSet::from(["node-a".to_string(), "node-b".to_string()]);
        let found = stale(&boosts, &existing);
        assert_eq!(
            found,
            [Stale {
                boost: BoostRef::of(&boosts[0]),
                items: vec![(0, "gone-1".into()), (2, "gone-2".into())],
            }]
        );
        assert_eq!(
            serde_json::to_value(removal(&found[0].items)).expect("json"),
            serde_json::json!([
                {"op": "test", "path": "/status/nodes/2/node", "value": "gone-2"},
                {"op": "remove", "path": "/status/nodes/2"},
                {"op": "test", "path": "/status/nodes/0/node", "value": "gone-1"},
                {"op": "remove", "path": "/status/nodes/0"},
            ])
        );
        // An object with only this node's item needs no LIST at all.
        assert!(!others(&boosts[..0], "node-a"));
        assert!(!others(&[boost("c", &["node-a"])], "node-a"));
        assert!(others(&boosts, "node-a"));
    }
}
