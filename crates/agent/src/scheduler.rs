//! Which claimed command may run when: at most N at once (a slot is taken before a command
//! is claimed, so the agent never holds more than it can run), and commands for the same VM
//! strictly one after another, in the order they were claimed (a `stop` must not overtake
//! the `start` before it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

/// A VM as the scheduler tells them apart: its Proxmox target and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VmKey {
    pub target: String,
    pub vmid: u32,
}

pub struct Scheduler {
    slots: Arc<Semaphore>,
    limit: usize,
    queues: Arc<Mutex<HashMap<VmKey, Tail>>>,
    next_ticket: AtomicU64,
}

/// The last ticket queued for a VM: the next one waits for its end.
struct Tail {
    ticket: u64,
    done: oneshot::Receiver<()>,
}

/// A command's place in its VM's line. Dropping it lets the next command of that VM run.
pub struct Turn {
    key: Option<VmKey>,
    ticket: u64,
    previous: Option<oneshot::Receiver<()>>,
    // Dropped with the turn, which wakes the next one.
    _done: Option<oneshot::Sender<()>>,
    queues: Arc<Mutex<HashMap<VmKey, Tail>>>,
}

impl Scheduler {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            queues: Arc::new(Mutex::new(HashMap::new())),
            next_ticket: AtomicU64::new(0),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Wait for a free slot; hold it from claiming a command until its result is reported.
    pub async fn slot(&self) -> OwnedSemaphorePermit {
        self.slots
            .clone()
            .acquire_owned()
            .await
            .expect("the scheduler's semaphore is never closed")
    }

    /// Commands running now.
    pub fn busy(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Queue a command behind the earlier ones of the same VM (none for commands that name
    /// no VM). Called in claim order, without waiting; [`Turn::wait`] then waits.
    pub fn enqueue(&self, key: Option<VmKey>) -> Turn {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let Some(vm) = key.clone() else {
            return Turn {
                key,
                ticket,
                previous: None,
                _done: None,
                queues: self.queues.clone(),
            };
        };
        let (done_tx, done_rx) = oneshot::channel();
        let previous = self
            .queues
            .lock()
            .expect("VM queues")
            .insert(
                vm,
                Tail {
                    ticket,
                    done: done_rx,
                },
            )
            .map(|tail| tail.done);
        Turn {
            key,
            ticket,
            previous,
            _done: Some(done_tx),
            queues: self.queues.clone(),
        }
    }

    /// VMs with commands queued or running (for tests and logs).
    pub fn queued_vms(&self) -> usize {
        self.queues.lock().expect("VM queues").len()
    }
}

impl Turn {
    /// Wait until every earlier command of the same VM has finished.
    pub async fn wait(&mut self) {
        if let Some(previous) = self.previous.take() {
            // An error means the earlier turn was dropped: finished all the same.
            let _ = previous.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(key) = &self.key else { return };
        // Forget the VM once nothing queued behind this turn.
        if let Ok(mut queues) = self.queues.lock()
            && queues
                .get(key)
                .is_some_and(|tail| tail.ticket == self.ticket)
        {
            queues.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::mpsc;

    fn vm(vmid: u32) -> Option<VmKey> {
        Some(VmKey {
            target: "default".into(),
            vmid,
        })
    }

    /// Three (release, released) pairs: a task ends once its release is sent.
    fn releases() -> [(oneshot::Sender<()>, oneshot::Receiver<()>); 3] {
        std::array::from_fn(|_| oneshot::channel())
    }

    /// Runs `turn` as a task that records its start, waits for `release`, records its end.
    fn run(
        mut turn: Turn,
        name: &'static str,
        log: mpsc::UnboundedSender<String>,
        release: oneshot::Receiver<()>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            turn.wait().await;
            log.send(format!("start {name}")).unwrap();
            let _ = release.await;
            log.send(format!("end {name}")).unwrap();
            drop(turn);
        })
    }

    #[tokio::test]
    async fn same_vm_runs_one_after_another_in_claim_order() {
        let s = Scheduler::new(4);
        let (log, mut events) = mpsc::unbounded_channel();
        let [(release_a, a), (release_b, b), (release_c, c)] = releases();
        // claimed a, b, c for VM 101; spawned in reverse so spawn order cannot explain order
        let (ta, tb, tc) = (s.enqueue(vm(101)), s.enqueue(vm(101)), s.enqueue(vm(101)));
        let hc = run(tc, "c", log.clone(), c);
        let hb = run(tb, "b", log.clone(), b);
        let ha = run(ta, "a", log.clone(), a);
        assert_eq!(events.recv().await.unwrap(), "start a");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(events.try_recv().is_err(), "b must wait for a");
        release_a.send(()).unwrap();
        assert_eq!(events.recv().await.unwrap(), "end a");
        assert_eq!(events.recv().await.unwrap(), "start b");
        release_b.send(()).unwrap();
        assert_eq!(events.recv().await.unwrap(), "end b");
        assert_eq!(events.recv().await.unwrap(), "start c");
        release_c.send(()).unwrap();
        assert_eq!(events.recv().await.unwrap(), "end c");
        for h in [ha, hb, hc] {
            h.await.unwrap();
        }
        assert_eq!(
            s.queued_vms(),
            0,
            "a VM is forgotten once its line is empty"
        );
    }

    #[tokio::test]
    async fn other_vms_and_vm_less_commands_run_alongside() {
        let s = Scheduler::new(4);
        let (log, mut events) = mpsc::unbounded_channel();
        let [(release_a, a), (release_b, b), (release_c, c)] = releases();
        let ha = run(s.enqueue(vm(101)), "a", log.clone(), a);
        let hb = run(s.enqueue(vm(102)), "b", log.clone(), b);
        let hc = run(s.enqueue(None), "c", log.clone(), c);
        let mut started: Vec<String> = Vec::new();
        for _ in 0..3 {
            started.push(events.recv().await.unwrap());
        }
        started.sort();
        assert_eq!(started, ["start a", "start b", "start c"]);
        for r in [release_a, release_b, release_c] {
            r.send(()).unwrap();
        }
        for h in [ha, hb, hc] {
            h.await.unwrap();
        }
        assert_eq!(s.queued_vms(), 0);
    }

    #[tokio::test]
    async fn a_dropped_turn_lets_the_next_one_run() {
        let s = Scheduler::new(2);
        let first = s.enqueue(vm(7));
        let mut second = s.enqueue(vm(7));
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), second.wait())
            .await
            .expect("the next turn runs once the earlier one is gone");
    }

    #[tokio::test]
    async fn at_most_limit_slots_at_once() {
        let s = Scheduler::new(2);
        assert_eq!(s.limit(), 2);
        let one = s.slot().await;
        let two = s.slot().await;
        assert_eq!(s.busy(), 2);
        let third = tokio::time::timeout(Duration::from_millis(100), s.slot()).await;
        assert!(third.is_err(), "a third slot must wait");
        drop(one);
        let three = tokio::time::timeout(Duration::from_secs(10), s.slot())
            .await
            .expect("a freed slot is handed on");
        assert_eq!(s.busy(), 2);
        drop((two, three));
        assert_eq!(s.busy(), 0);
        assert_eq!(Scheduler::new(0).limit(), 1, "zero means one");
    }
}
