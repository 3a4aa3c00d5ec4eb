//! Stopping: waiting a grace period for runs to end, then cancelling the rest.

use super::*;

impl Engine {
    /// The event stream ended (a replayed session is over): let every run, queued run and
    /// debounced firing finish, unless shutdown is asked meanwhile.
    pub(super) async fn drain(&mut self, shutdown: &CancellationToken) {
        while self.active_runs() > 0 || !self.debounce.deadlines.is_empty() {
            let next_deadline = self.debounce.deadlines.keys().next().map(|(at, _)| *at);
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => return self.shut_down().await,
                Some(done) = self.runs.done_rx.recv() => self.on_run_done(done),
                Some(asked) = self.runs.cancel_rx.recv() => self.cancel_asked(asked),
                room = next_room(&mut self.room.asking, &self.port), if !self.room.waiting.is_empty() => {
                    self.start_waiting(room);
                }
                _ = sleep_until_some(next_deadline), if next_deadline.is_some() => self.fire_debounced(),
            }
            self.drop_cancelled_waits();
        }
        self.runs.tracker.close();
        self.runs.tracker.wait().await;
    }

    /// Shutdown: no queued run starts, nor one still waiting for room on the port; active runs
    /// get the grace period, then are cancelled.
    pub(super) async fn shut_down(&mut self) {
        for state in &mut self.per_rule.states {
            state.queue.clear();
        }
        self.room.asking = None;
        self.room.waiting.clear();
        let deadline = Instant::now() + self.config.shutdown_grace;
        while self.active_runs() > 0 {
            tokio::select! {
                Some(done) = self.runs.done_rx.recv() => self.on_run_done(done),
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        for active in self
            .per_rule
            .states
            .iter()
            .flat_map(|state| &state.active)
            .chain(&self.runs.orphans)
        {
            active.cancel();
        }
        while self.active_runs() > 0 {
            match self.runs.done_rx.recv().await {
                Some(done) => self.on_run_done(done),
                None => break,
            }
        }
        self.runs.tracker.close();
        self.runs.tracker.wait().await;
    }
}
