//! `lcu-rules record` against the simulated client: the session it writes replays through
//! `test --events` and through the simulated client, and `--redact` leaves no personal value in
//! it while keeping the same pseudonym for the same value everywhere.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use lcu_rules::client::Discovery;
use lcu_rules::client::LiveOptions;
use lcu_rules::client::Trust;
use lcu_rules::engine::EngineConfig;
use lcu_rules::event::EventType;
use lcu_rules::event::{read_recording, timed};
use lcu_rules::language::load;
use lcu_rules::offline::Collector;
use lcu_rules::service::Service;
use lcu_rules::sim::SimClient;
use lcu_rules::sim::{READY_CHECK, ready_check};

use crate::util::{Dir, Home, rules_dir};

const WAIT: Duration = Duration::from_secs(10);
const PUUID: &str = "3f1c2a9e-7b4d-4c1e-9a2f-0d8e6b5c4a31";
const ACCEPT: &str = "/lol-matchmaking/v1/ready-check/accept";

#[tokio::test]
async fn a_redacted_recording_replays_and_keeps_nothing_personal() {
    let dir = Dir::new();
    let sim = SimClient::start(&dir.path().join("sim")).await.unwrap();
    let home = Home::new();
    let output = dir.path().join("session.jsonl");
    let child = home
        .command()
        .args(["record", "--redact", "-o"])
        .arg(&output)
        .arg("--lockfile")
        .arg(sim.lockfile())
        .arg("--ca")
        .arg(sim.ca_file())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        sim.wait_for_sockets(1, WAIT).await,
        "record never connected"
    );

    sim.publish(
        "/lol-summoner/v1/current-summoner",
        EventType::Update,
        json!({"gameName": "Hide on bush", "tagLine": "KR1", "puuid": PUUID,
               "summonerId": 4_512_001, "accountId": 2_001_337, "summonerLevel": 512}),
    );
    sim.publish(
        &format!("/lol-chat/v1/friends/{PUUID}"),
        EventType::Update,
        json!({"gameName": "Hide on bush", "gameTag": "KR1", "puuid": PUUID, "availability": "chat"}),
    );
    sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
    let deadline = tokio::time::Instant::now() + WAIT;
    while std::fs::read_to_string(&output)
        .map(|t| t.lines().count())
        .unwrap_or(0)
        < 4
    {
        assert!(tokio::time::Instant::now() < deadline, "nothing recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let finished = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(finished.status.success());
    let said = String::from_utf8_lossy(&finished.stderr);
    assert!(
        said.contains("recorded 4 event(s)") && said.contains("5 personal value(s) replaced"),
        "{said}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&output).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a recording is its owner's only");
    }
    let text = std::fs::read_to_string(&output).unwrap();
    for personal in ["Hide on bush", "KR1", PUUID, "4512001", "2001337"] {
        assert!(!text.contains(personal), "{personal} left in:\n{text}");
    }
    let recorded = read_recording(&output).unwrap();
    let uris: Vec<&str> = recorded.iter().map(|r| r.event.uri.as_str()).collect();
    let pseudonym = "00000000-0000-4000-8000-000000000001";
    assert_eq!(
        uris,
        [
            "/lol-gameflow/v1/gameflow-phase".to_string(),
            "/lol-summoner/v1/current-summoner".to_string(),
            format!("/lol-chat/v1/friends/{pseudonym}"),
            READY_CHECK.to_string(),
        ]
    );
    assert_eq!(recorded[1].event.data["puuid"], pseudonym);
    assert_eq!(recorded[2].event.data["puuid"], pseudonym);
    assert_eq!(recorded[2].event.data["gameName"], "Player1");
    assert_eq!(recorded[1].event.data["summonerLevel"], 512);
    assert!(recorded.iter().all(|r| r.time_ms.is_some()));

    // The session replays offline...
    let replayed = crate::util::lcu_rules(&[
        "test",
        "rules/accept-ready-check.yaml",
        "--events",
        output.to_str().unwrap(),
    ]);
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    assert!(
        replayed
            .stdout
            .contains("POST /lol-matchmaking/v1/ready-check/accept"),
        "{}",
        replayed.stdout
    );

    // ...and through the simulated client, to a live service.
    let second = SimClient::start(&dir.path().join("sim2")).await.unwrap();
    let loaded = load(&[rules_dir().join("accept-ready-check.yaml")]);
    let options = LiveOptions::new(
        Discovery::Lockfile(second.lockfile()),
        Trust::riot_and_file(&second.ca_file()).unwrap(),
        Vec::new(),
    );
    let mut service = Service::start(
        Arc::new(loaded.rule_set()),
        options,
        Arc::new(Collector::default()),
        EngineConfig::default(),
    );
    assert!(service.wait_connected(1, WAIT).await);
    assert!(second.wait_for_sockets(1, WAIT).await);
    second.replay(&timed(recorded, Duration::ZERO), 10.0).await;
    assert!(
        second
            .wait_for_request("POST", ACCEPT, 0, WAIT)
            .await
            .is_some()
    );
    service.stop().await;
}
