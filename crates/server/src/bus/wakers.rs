//! Per-agent wake-ups: a waiting poll sleeps on its agent's; a command queued for the agent
//! wakes one of its waiting polls (one command is one claim: waking every poll of an agent
//! that keeps many would have all but one look for nothing) and names itself, so polls woken
//! for different commands claim different rows instead of racing for the oldest; its
//! revocation wakes them all (no polling loop). A command queued on this replica comes with
//! its row, so the woken poll claims it without reading it first.
//!
//! Better still, a waiting poll offers to take a command handed to it ([`Taker`]): a
//! dispatch on this replica that finds one inserts its command already claimed by that poll
//! and sends it over, one write where queueing and claiming take two, and no wake-up.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::futures::Notified;
use tokio::sync::{Notify, oneshot};

use crate::db::entity::agent_command::Model;

/// Commands named per agent, at most: past it the oldest names go (their polls then claim
/// the oldest queued command, which is as correct, only less spread).
const NAMED_MAX: usize = 1024;

/// A command a wake-up named.
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// Queued on another replica (its notification carries the id only).
    Id(String),
    /// Queued on this replica: the row as it was written.
    Row(Arc<Model>),
}

/// A waiting poll's offer to take a command handed to it: the claim id it claims under, the
/// token its agent polls with, and where the claimed command goes.
pub struct Taker {
    pub claim_id: String,
    pub token_hash: Option<String>,
    pub tx: oneshot::Sender<Model>,
}

/// One agent's wake-up, with the commands queued since that no woken poll took yet and the
/// offers of its waiting polls.
#[derive(Default)]
pub struct AgentWake {
    notify: Notify,
    named: Mutex<VecDeque<Named>>,
    takers: Mutex<VecDeque<Taker>>,
}

impl AgentWake {
    /// The wake-up to wait on (enable it before looking, so no wake is missed).
    pub fn notified(&self) -> Notified<'_> {
        self.notify.notified()
    }

    /// A command a wake-up named that no poll took yet, oldest first.
    pub fn take_named(&self) -> Option<Named> {
        self.named().pop_front()
    }

    fn named(&self) -> std::sync::MutexGuard<'_, VecDeque<Named>> {
        self.named.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn takers(&self) -> std::sync::MutexGuard<'_, VecDeque<Taker>> {
        self.takers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A waiting poll offers to take a command handed to it (see [`Wakers::take_taker`]).
    pub fn offer(&self, taker: Taker) {
        let mut takers = self.takers();
        takers.retain(|t| !t.tx.is_closed());
        takers.push_back(taker);
    }

    /// The poll that offered under `claim_id` stops waiting: `false` when a dispatch took the
    /// offer already, and so will send a command or drop the sender (the poll must wait for
    /// which).
    pub fn withdraw(&self, claim_id: &str) -> bool {
        let mut takers = self.takers();
        let before = takers.len();
        takers.retain(|t| t.claim_id != claim_id);
        takers.len() != before
    }
}

/// One wake-up per agent with polls waiting; an entry lives while a poll holds it.
#[derive(Default)]
pub struct Wakers(Mutex<HashMap<String, Arc<AgentWake>>>);

impl Wakers {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AgentWake>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The wake-up a poll of this agent waits on; give it back with [`Wakers::release`].
    pub fn for_agent(&self, agent_id: &str) -> Arc<AgentWake> {
        self.map().entry(agent_id.to_owned()).or_default().clone()
    }

    /// A poll is done with `wake`: the entry goes when no other poll holds it.
    pub fn release(&self, agent_id: &str, wake: Arc<AgentWake>) {
        let mut map = self.map();
        drop(wake);
        if map.get(agent_id).is_some_and(|n| Arc::strong_count(n) == 1) {
            map.remove(agent_id);
        }
    }

    /// A command was queued for this agent: wake one of its waiting polls, naming it. With
    /// none waiting, the next poll to wait returns at once and looks (a poll always looks for
    /// a queued command before it waits, so at worst that look finds nothing). A
    /// poll that is woken but gives up before it runs hands the wake-up to the next (tokio's
    /// `Notified` does so when dropped).
    pub fn wake_one(&self, agent_id: &str, command: Named) {
        if let Some(wake) = self.map().get(agent_id) {
            let mut named = wake.named();
            if named.len() == NAMED_MAX {
                named.pop_front();
            }
            named.push_back(command);
            drop(named);
            wake.notify.notify_one();
        }
    }

    /// The offer of one of the agent's waiting polls, oldest first, if one is waiting here.
    pub fn take_taker(&self, agent_id: &str) -> Option<Taker> {
        let map = self.map();
        let mut takers = map.get(agent_id)?.takers();
        std::iter::from_fn(|| takers.pop_front()).find(|t| !t.tx.is_closed())
    }

    /// The agent no longer stands as its polls saw it: wake every one waiting right now.
    pub fn wake_all(&self, agent_id: &str) {
        if let Some(wake) = self.map().get(agent_id) {
            wake.notify.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// How many of the waiting polls' wake-ups have fired; those are done and dropped.
    fn woken(waits: &mut Vec<std::pin::Pin<Box<Notified<'_>>>>) -> usize {
        let before = waits.len();
        waits.retain_mut(|w| w.as_mut().now_or_never().is_none());
        before - waits.len()
    }

    fn offer(wake: &AgentWake, claim_id: &str) -> oneshot::Receiver<Model> {
        let (tx, rx) = oneshot::channel();
        wake.offer(Taker {
            claim_id: claim_id.into(),
            token_hash: Some("h".into()),
            tx,
        });
        rx
    }

    #[test]
    fn a_dispatch_takes_the_oldest_offer_of_a_poll_still_waiting() {
        let wakers = Wakers::default();
        let wake = wakers.for_agent("a");
        assert!(wakers.take_taker("b").is_none(), "no poll of b waits here");
        let gone = offer(&wake, "p1");
        let _second = offer(&wake, "p2");
        let _third = offer(&wake, "p3");
        drop(gone);
        let taken = wakers.take_taker("a").expect("an offer");
        assert_eq!(taken.claim_id, "p2", "the oldest poll still waiting");
        assert!(
            !wake.withdraw("p2"),
            "taken: that poll waits for what the dispatch sends"
        );
        assert!(wake.withdraw("p3"), "not taken: withdrawn");
        assert!(wakers.take_taker("a").is_none(), "none left");
    }

    #[test]
    fn a_queued_command_wakes_one_poll_of_its_agent_and_a_revocation_all() {
        let wakers = Wakers::default();
        let a: Vec<Arc<AgentWake>> = (0..5).map(|_| wakers.for_agent("a")).collect();
        let b: Vec<Arc<AgentWake>> = (0..2).map(|_| wakers.for_agent("b")).collect();
        // Each poll listens as `wait_for_command` does: enabled before it looks.
        fn listen(n: &Arc<AgentWake>) -> std::pin::Pin<Box<Notified<'_>>> {
            let mut w = Box::pin(n.notified());
            w.as_mut().enable();
            w
        }
        let mut polls_a: Vec<_> = a.iter().map(listen).collect();
        let mut polls_b: Vec<_> = b.iter().map(listen).collect();

        let id = |s: &str| Named::Id(s.into());
        wakers.wake_one("a", id("c1"));
        assert_eq!(woken(&mut polls_a), 1, "one command, one poll");
        wakers.wake_one("a", id("c2"));
        wakers.wake_one("a", id("c3"));
        assert_eq!(woken(&mut polls_a), 2);
        let named: Vec<Named> = std::iter::from_fn(|| a[0].take_named()).collect();
        assert_eq!(
            named,
            [id("c1"), id("c2"), id("c3")],
            "each woken poll takes a command of its own"
        );
        assert_eq!(woken(&mut polls_b), 0, "another agent's polls sleep on");
        wakers.wake_all("a");
        assert_eq!(woken(&mut polls_a), 2, "the rest, at once");

        // A woken poll that gives up (its request dropped) hands the wake-up on.
        let mut polls_b2: Vec<_> = b.iter().map(listen).collect();
        drop(polls_b);
        wakers.wake_one("b", id("c4"));
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
