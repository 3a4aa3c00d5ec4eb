//! `lcu-rules sim`: the simulated client as a program of its own, playing one League session
//! after another (lobby, queue, ready check, champion select, game, end of game) so that `run`,
//! its tray icon, `status` and `explain --live` can be tried without League. Whatever connects to
//! it is on its own: the script waits a while for an answer to the ready check and for
//! play-again, then says what it got and carries on.

use std::io::Write;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::SimClient;
use super::state::{CHAMP_SELECT_SESSION, GAMEFLOW_PHASE, READY_CHECK, ready_check};
use crate::event::TimedEvent;

/// How long the script waits for a ready check or play-again to be answered.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

/// Plays sessions on `sim` until `stop`, printing each step to `out`; `pace` scales every pause
/// (0.5: twice as fast). `sessions` limits how many (`None`: until stopped).
pub async fn play_sessions(
    sim: &SimClient,
    champ_select: &[TimedEvent],
    pace: f64,
    sessions: Option<u32>,
    out: &mut dyn Write,
    stop: &CancellationToken,
) {
    let start = Instant::now();
    let mut say = |text: &str| {
        let _ = writeln!(out, "{:>8.1}s  {text}", start.elapsed().as_secs_f64());
        let _ = out.flush();
    };
    let mut played = 0;
    while sessions.is_none_or(|limit| played < limit) {
        played += 1;
        say(&format!("session {played}: lobby"));
        // Like the client, which publishes changes only: play-again already went back there.
        if sim.resource(GAMEFLOW_PHASE) != Some(json!("Lobby")) {
            sim.change(GAMEFLOW_PHASE, Some(json!("Lobby")));
        }
        if pause(3000, pace, stop).await {
            return;
        }
        say("searching for a match");
        sim.change(GAMEFLOW_PHASE, Some(json!("Matchmaking")));
        if pause(4000, pace, stop).await {
            return;
        }
        say("match found: the ready check pops");
        sim.change(GAMEFLOW_PHASE, Some(json!("ReadyCheck")));
        let from = sim.requests().len();
        sim.change(READY_CHECK, Some(ready_check("InProgress", "None", 0.0)));
        let answer = tokio::select! {
            _ = stop.cancelled() => return,
            answer = first_answer(sim, from) => answer,
        };
        match answer {
            Some((path, after)) => say(&format!(
                "ready check answered: POST {path}, {:.1} ms after it popped",
                after.as_secs_f64() * 1000.0
            )),
            None => say("nobody answered the ready check: it times out"),
        }
        if sim
            .resource(READY_CHECK)
            .is_some_and(|c| c["playerResponse"] == "Accepted")
        {
            sim.change(
                READY_CHECK,
                Some(ready_check("EveryoneReady", "Accepted", 2.0)),
            );
        } else {
            sim.change(READY_CHECK, None);
            sim.change(GAMEFLOW_PHASE, Some(json!("Lobby")));
            if pause(5000, pace, stop).await {
                return;
            }
            continue;
        }
        if pause(1000, pace, stop).await {
            return;
        }
        say("champion select (a real recorded session, sped up)");
        sim.change(READY_CHECK, None);
        sim.change(GAMEFLOW_PHASE, Some(json!("ChampSelect")));
        let speed = if pace > 0.0 { 10.0 / pace } else { f64::MAX };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sim.replay(champ_select, speed) => {}
        }
        say("the game starts");
        sim.change(CHAMP_SELECT_SESSION, None);
        sim.change(GAMEFLOW_PHASE, Some(json!("GameStart")));
        sim.change(GAMEFLOW_PHASE, Some(json!("InProgress")));
        if pause(8000, pace, stop).await {
            return;
        }
        say("the game is over");
        let from = sim.requests().len();
        for phase in ["WaitingForStats", "PreEndOfGame", "EndOfGame"] {
            sim.change(GAMEFLOW_PHASE, Some(json!(phase)));
            if pause(500, pace, stop).await {
                return;
            }
        }
        let again = tokio::select! {
            _ = stop.cancelled() => return,
            again = sim.wait_for_request("POST", "/lol-lobby/v2/play-again", from, ANSWER_WAIT) => again,
        };
        say(if again.is_some() {
            "play-again was asked for: back to the lobby"
        } else {
            "nobody asked for play-again"
        });
        if pause(5000, pace, stop).await {
            return;
        }
    }
}

/// The first accept or decline of the ready check after request `from`, and how long after the
/// check popped it came.
async fn first_answer(sim: &SimClient, from: usize) -> Option<(String, Duration)> {
    let popped = Instant::now();
    let deadline = popped + ANSWER_WAIT;
    loop {
        let answered = sim.requests().into_iter().skip(from).find(|r| {
            r.method == "POST"
                && (r.path == "/lol-matchmaking/v1/ready-check/accept"
                    || r.path == "/lol-matchmaking/v1/ready-check/decline")
        });
        if let Some(request) = answered {
            return Some((request.path, request.at.saturating_duration_since(popped)));
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sleeps `ms` scaled by `pace`; `true` when stopped meanwhile.
async fn pause(ms: u64, pace: f64, stop: &CancellationToken) -> bool {
    let wait = Duration::from_secs_f64(ms as f64 / 1000.0 * pace.max(0.0));
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}
