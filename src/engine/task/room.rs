//! Waiting for room on the port: a run whose first step is a request starts only when the
//! port has room for it; meanwhile it waits here, oldest first, and the engine takes no new event.

use super::*;

impl Engine {
    /// Room on the port for a run that starts now: none while others wait for it (they go first).
    pub(super) fn room_now(&self) -> Option<Reservation> {
        match self.room.waiting.is_empty() {
            true => self.port.try_reserve(),
            false => None,
        }
    }

    /// Books a run as active and puts it in the wait for room.
    pub(super) fn wait_for_room(
        &mut self,
        rule: u32,
        abandon: Arc<OnceLock<String>>,
        context: RunContext,
        end: RunEnd,
    ) {
        let cancelled = Arc::new(AtomicBool::new(false));
        self.per_rule.states[rule as usize]
            .active
            .push_back(ActiveRun {
                run: context.run,
                stop: Stop::Waiting(cancelled.clone()),
                abandon,
            });
        self.room.waiting.push_back(WaitingRun {
            context,
            end,
            cancelled,
        });
    }

    /// Starts the oldest waiting run in `room`, and the next ones while the port has more.
    pub(super) fn start_waiting(&mut self, room: Reservation) {
        let mut room = Some(room);
        while let Some(reserved) = room.take() {
            let Some(WaitingRun {
                mut context, end, ..
            }) = self.room.waiting.pop_front()
            else {
                return;
            };
            context.reservation = Some(reserved);
            let run = context.run;
            let task = self.spawn_run(context, end);
            // A reload may have moved the run's rule to another index, or left it an orphan.
            let active = match self.runs.owners.get(&run) {
                Some(&rule) => self.per_rule.states[rule as usize]
                    .active
                    .iter_mut()
                    .find(|a| a.run == run),
                None => self.runs.orphans.iter_mut().find(|a| a.run == run),
            };
            if let Some(active) = active {
                active.stop = Stop::Task(task);
            }
            if !self.room.waiting.is_empty() {
                room = self.port.try_reserve();
            }
        }
    }

    /// Drops the waiting runs that were cancelled: their [`RunEnd`]s report them.
    pub(super) fn drop_cancelled_waits(&mut self) {
        if !self.room.waiting.is_empty() {
            self.room
                .waiting
                .retain(|waiting| !waiting.cancelled.load(Ordering::Relaxed));
        }
    }
}
