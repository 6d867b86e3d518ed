//! Per-agent wake-ups: a waiting poll sleeps on its agent's; a command queued for the agent
//! wakes one of its waiting polls (one command is one claim: waking every poll of an agent
//! that keeps many would have all but one look for nothing), its revocation wakes them all
//! (no polling loop).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// One wake-up per agent with polls waiting; an entry lives while a poll holds it.
#[derive(Default)]
pub struct Wakers(Mutex<HashMap<String, Arc<Notify>>>);

impl Wakers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wake-up a poll of this agent waits on; give it back with [`Wakers::release`].
    pub fn for_agent(&self, agent_id: &str) -> Arc<Notify> {
        self.map().entry(agent_id.to_owned()).or_default().clone()
    }

    /// A poll is done with `wake`: the entry goes when no other poll holds it.
    pub fn release(&self, agent_id: &str, wake: Arc<Notify>) {
        let mut map = self.map();
        drop(wake);
        if map.get(agent_id).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(agent_id);
        }
    }

    /// A command was queued for this agent: wake one of its waiting polls. With none
    /// waiting, the next poll to wait returns at once and looks (a poll always looks for
    /// a queued command before it waits, so at worst that look finds nothing). A poll that
    /// is woken but gives up before it runs hands the wake-up to the next (tokio's
    /// `Notified` does so when dropped).
    pub fn wake_one(&self, agent_id: &str) {
        if let Some(n) = self.map().get(agent_id) {
            n.notify_one();
        }
    }

    /// The agent no longer stands as its polls saw it: wake every one waiting right now.
    pub fn wake_all(&self, agent_id: &str) {
        if let Some(n) = self.map().get(agent_id) {
            n.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// How many of the waiting polls' wake-ups have fired; those are done and dropped.
    fn woken(waits: &mut Vec<std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>>>) -> usize {
        let before = waits.len();
        waits.retain_mut(|w| w.as_mut().now_or_never().is_none());
        before - waits.len()
    }

    #[test]
    fn a_queued_command_wakes_one_poll_of_its_agent_and_a_revocation_all() {
        let wakers = Wakers::default();
        let a: Vec<Arc<Notify>> = (0..5).map(|_| wakers.for_agent("a")).collect();
        let b: Vec<Arc<Notify>> = (0..2).map(|_| wakers.for_agent("b")).collect();
        // Each poll listens as `wait_for_command` does: enabled before it looks.
        fn listen(n: &Arc<Notify>) -> std::pin::Pin<Box<tokio::sync::futures::Notified<'_>>> {
            let mut w = Box::pin(n.notified());
            w.as_mut().enable();
            w
        }
        let mut polls_a: Vec<_> = a.iter().map(listen).collect();
        let mut polls_b: Vec<_> = b.iter().map(listen).collect();

        wakers.wake_one("a");
        assert_eq!(woken(&mut polls_a), 1, "one command, one poll");
        wakers.wake_one("a");
        wakers.wake_one("a");
        assert_eq!(woken(&mut polls_a), 2);
        assert_eq!(woken(&mut polls_b), 0, "another agent's polls sleep on");
        wakers.wake_all("a");
        assert_eq!(woken(&mut polls_a), 2, "the rest, at once");

        // A woken poll that gives up (its request dropped) hands the wake-up on.
        let mut polls_b2: Vec<_> = b.iter().map(listen).collect();
        drop(polls_b);
        wakers.wake_one("b");
        let gave_up = polls_b2.remove(0);
        drop(gave_up);
        assert_eq!(woken(&mut polls_b2), 1, "the other poll of b got it");

        drop((polls_a, polls_b2));
        for n in a {
            wakers.release("a", n);
        }
        assert!(
            wakers.map().get("a").is_none(),
            "no poll left, no entry left"
        );
        assert!(wakers.map().get("b").is_some());
    }
}
