//! The certificate policy, case by case, through the real TLS path: the simulated client serves
//! a certificate made for each case, and the live service (HTTPS and the websocket) either
//! connects and accepts a ready check, or refuses with the reason the case calls for and sends
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use lcu_rules::client::{Discovery, LiveOptions, Status, Trust};
use lcu_rules::engine::EngineConfig;
use lcu_rules::language::load;
use lcu_rules::offline::Collector;
use lcu_rules::service::Service;
use lcu_rules::sim::{Leaf, READY_CHECK, Signer, SimClient, ready_check};

use crate::util::{Dir, rules_dir};

const WAIT: Duration = Duration::from_secs(10);
const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";

/// Connects to a client serving `leaf`: `Ok` once a ready check was accepted through it, or the
/// reason of the first refusal.
async fn outcome(leaf: Leaf) -> Result<(), String> {
    let dir = Dir::new();
    let sim = SimClient::start_with(dir.path(), leaf).await.unwrap();
    let loaded = load(&[rules_dir().join("accept-ready-check.yaml")]);
    let mut options = LiveOptions::new(
        Discovery::Lockfile(sim.lockfile()),
        Trust::riot_and_file(&sim.ca_file()).unwrap(),
        Vec::new(),
    );
    options.backoff_min = Duration::from_millis(20);
    options.backoff_max = Duration::from_millis(200);
    let mut service = Service::start(
        Arc::new(loaded.rule_set()),
        options,
        Arc::new(Collector::default()),
        EngineConfig::default(),
    );
    let mut status = service.status.clone();
    let reached = tokio::time::timeout(
        WAIT,
        status.wait_for(|s| matches!(s, Status::Connected { .. } | Status::Retrying { .. })),
    )
    .await
    .expect("an outcome")
    .expect("status")
    .clone();
    let result = match reached {
        Status::Retrying { reason } => {
            // The reason stays the same from one retry to the next (so it is logged once).
            let mut second = service.status.clone();
            let _ = second.changed().await;
            let again = tokio::time::timeout(
                WAIT,
                second.wait_for(|s| matches!(s, Status::Retrying { .. })),
            )
            .await
            .expect("a second attempt")
            .expect("status")
            .clone();
            assert_eq!(
                again,
                Status::Retrying {
                    reason: reason.clone()
                }
            );
            assert!(sim.requests().is_empty(), "{:?}", sim.requests());
            Err(reason)
        }
        _ => {
            assert!(service.wait_connected(1, WAIT).await);
            let from = sim.requests().len();
            sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
            let accepted = sim.wait_for_request("POST", ACCEPT, from, WAIT).await;
            assert!(accepted.is_some(), "the ready check was not accepted");
            Ok(())
        }
    };
    service.stop().await;
    result
}

fn leaf(dns: &[&str], ip: bool, common_name: &str) -> Leaf {
    Leaf {
        dns_names: dns.iter().map(|s| s.to_string()).collect(),
        ip_address: ip,
        common_name: common_name.into(),
        ..Leaf::default()
    }
}

fn refused_for(result: Result<(), String>, reason: &str) {
    match result {
        Err(text) => assert!(text.contains(reason), "expected `{reason}` in: {text}"),
        Ok(()) => panic!("connected, but should have been refused for `{reason}`"),
    }
}

#[tokio::test]
async fn the_real_clients_shape_is_accepted() {
    assert_eq!(outcome(Leaf::default()).await, Ok(()));
}

#[tokio::test]
async fn an_expired_leaf_signed_by_the_root_is_accepted() {
    let expired = Leaf {
        valid: Some(((2024, 1, 4), (2026, 1, 4))),
        ..Leaf::default()
    };
    assert_eq!(outcome(expired).await, Ok(()));
}

#[tokio::test]
async fn a_leaf_not_yet_valid_is_accepted() {
    let future = Leaf {
        valid: Some(((2090, 1, 1), (2091, 1, 1))),
        ..Leaf::default()
    };
    assert_eq!(outcome(future).await, Ok(()));
}

#[tokio::test]
async fn localhost_only_and_ip_only_are_accepted() {
    assert_eq!(
        outcome(leaf(&["localhost"], false, "rclient")).await,
        Ok(())
    );
    assert_eq!(outcome(leaf(&[], true, "rclient")).await, Ok(()));
}

#[tokio::test]
async fn a_common_name_alone_is_refused() {
    refused_for(outcome(leaf(&[], false, "localhost")).await, "(wrong name");
}

#[tokio::test]
async fn rclient_as_the_only_name_is_refused() {
    refused_for(
        outcome(leaf(&["rclient"], false, "rclient")).await,
        "(wrong name",
    );
}

/// Another CA under the trusted CA's name: a forgery, whose signature does not verify.
#[tokio::test]
async fn another_issuer_is_refused() {
    let other = Leaf {
        signer: Signer::AnotherCa,
        ..Leaf::default()
    };
    refused_for(outcome(other).await, "bad signature");
}

/// Being expired does not excuse the signature: the chain is verified in full at the leaf's time.
#[tokio::test]
async fn an_expired_leaf_of_another_issuer_is_refused() {
    let other = Leaf {
        signer: Signer::AnotherCa,
        valid: Some(((2024, 1, 4), (2026, 1, 4))),
        ..Leaf::default()
    };
    refused_for(outcome(other).await, "bad signature");
}

#[tokio::test]
async fn a_self_signed_leaf_is_refused() {
    let itself = Leaf {
        signer: Signer::Itself,
        ..Leaf::default()
    };
    refused_for(outcome(itself).await, "(unknown issuer)");
}
