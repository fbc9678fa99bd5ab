//! The order of steps, the same for every kind: record, read the node, record the undo data,
//! arm the revert timer, change the node, mark active; on failure roll back and say so. Revert
//! and verify work from a record alone.

use super::record::{FaultRecord, FaultState, Store};
use super::text::{Fields, unix_now};
use super::{FaultError, Verdict, timer};
use crate::events::{Event, EventKind};
use crate::paths::LabDir;
use crate::remote::{Output, Remote};
use std::future::Future;

/// What firedrill does on the host side of a node.
pub(crate) trait Host: Send + Sync {
    /// Forcibly resets the node's libvirt domain, as a power button would.
    fn reset(
        &self,
        node: &str,
        domain: &str,
    ) -> impl Future<Output = Result<(), FaultError>> + Send;

    /// Runs `script` with `sh` on this host, as root, for faults that act on the host side of
    /// a node (its tap device); any exit status is returned.
    fn run(
        &self,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> impl Future<Output = Result<Output, FaultError>> + Send;
}

/// One node's faults: the records, the node's shell and the host.
pub(crate) struct Engine<'a, R: Remote, H: Host> {
    pub(crate) lab: &'a LabDir,
    pub(crate) store: &'a Store,
    pub(crate) remote: &'a R,
    pub(crate) host: &'a H,
    /// The node's libvirt domain, for faults that reset it.
    pub(crate) domain: &'a str,
}

/// What a revert found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reverted {
    /// The changes made, one line each (may be empty if the node had already been fixed).
    Done(Vec<String>),
    /// The record says it was reverted already; nothing was run.
    Already,
    /// The inject stopped before changing anything; nothing was run.
    NothingChanged,
    /// The node went back to a snapshot taken before the fault; nothing was left to undo on it,
    /// and nothing was run.
    Restored,
}

impl<R: Remote, H: Host> Engine<'_, R, H> {
    /// Runs `script` as root on the node, or on this host for faults that act there; any exit
    /// status is returned.
    async fn root(
        &self,
        on_host: bool,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, FaultError> {
        if on_host {
            return self.host.run(script, stdin).await;
        }
        Ok(self.remote.run_as_root(script, stdin).await?)
    }

    /// As `root`, but a non-zero exit is an error.
    async fn root_ok(
        &self,
        on_host: bool,
        step: &str,
        script: &str,
        stdin: Option<&[u8]>,
    ) -> Result<Output, FaultError> {
        let node = self.remote.node();
        let on = if on_host {
            format!("host (for {node})")
        } else {
            node.to_string()
        };
        self.root(on_host, script, stdin)
            .await?
            .check(&on, step)
            .map_err(|failed| FaultError::Step {
                failed,
                hint: format!(
                    "look at the node with `firedrill ssh {node}`; the fault's record is in {}",
                    self.store_dir()
                ),
            })
    }

    fn store_dir(&self) -> String {
        self.lab.faults_dir().display().to_string()
    }

    fn event(
        &self,
        kind: EventKind,
        rec: &mut FaultRecord,
        message: String,
    ) -> Result<(), FaultError> {
        let event = if rec.hidden {
            // A level's fault: the learner watches this log, and it must not name the cause.
            Event::now(
                EventKind::Other("level-fault".into()),
                None,
                format!("a fault of the level changed a node ({})", rec.id),
            )
        } else {
            Event::now(kind, Some(&rec.node), message)
        };
        crate::events::append(self.lab, &event).map_err(FaultError::Event)
    }

    /// Injects `rec`'s fault (a new record: it gets its id here). With `for_secs`, a timer on
    /// the node reverts it after that long.
    pub(crate) async fn inject(
        &self,
        rec: &mut FaultRecord,
        for_secs: Option<u64>,
    ) -> Result<(), FaultError> {
        self.store.create(rec)?;
        if let Err(e) = self.prepare(rec).await {
            // Nothing on the node has changed: bad input leaves no record behind.
            self.store.discard(&rec.id)?;
            return Err(e);
        }
        match self.change(rec, for_secs).await {
            Ok(()) => {
                rec.state = FaultState::Active;
                rec.error = None;
                self.store.save(rec)?;
                let msg = format!("fault {} injected on {} ({})", rec.kind(), rec.node, rec.id);
                self.event(EventKind::FaultInjected, rec, msg)
            }
            Err(cause) => {
                let rollback = self.undo(rec).await;
                rec.state = FaultState::Failed;
                rec.rolled_back = rollback.is_ok();
                let rollback_error = match rollback {
                    Ok(lines) => {
                        rec.reverted = lines;
                        None
                    }
                    Err(e) => Some(e.to_string()),
                };
                rec.error = Some(match &rollback_error {
                    None => format!("{cause}\n(rolled back)"),
                    Some(r) => format!("{cause}\n(the rollback failed too: {r})"),
                });
                self.store.save(rec)?;
                Err(FaultError::InjectFailed {
                    id: rec.id.clone(),
                    kind: rec.kind().to_string(),
                    node: rec.node.clone(),
                    cause: cause.to_string(),
                    rollback_error,
                })
            }
        }
    }

    /// Reads the node's state into the record; changes nothing on the node.
    async fn prepare(&self, rec: &mut FaultRecord) -> Result<(), FaultError> {
        let kind = rec.kind();
        let on_host = rec.fault.ops().on_host();
        let out = self
            .root(on_host, &rec.fault.ops().prepare_script(), None)
            .await?;
        let does_not_fit = |why: String| FaultError::DoesNotFit {
            kind: kind.to_string(),
            node: rec.node.clone(),
            why,
        };
        if out.status == 3 {
            return Err(does_not_fit(out.stderr_tail(3)));
        }
        if !out.success() {
            let hint = format!(
                "nothing was changed; look at the node with `firedrill ssh {}`",
                rec.node
            );
            let step = format!("{kind}: reading the node's state");
            return Err(FaultError::Step {
                failed: out.failure(&rec.node, &step),
                hint,
            });
        }
        let fields = Fields::parse(&out.stdout_str());
        rec.fault.ops().prepared(&fields).map_err(does_not_fit)?;
        rec.prepared = true;
        self.store.save(rec)
    }

    /// Every change to the node, after the undo data is on disk.
    async fn change(&self, rec: &mut FaultRecord, for_secs: Option<u64>) -> Result<(), FaultError> {
        let kind = rec.kind();
        let on_host = rec.fault.ops().on_host();
        let out = self
            .root_ok(
                on_host,
                &format!("{kind}: inject"),
                &rec.fault.ops().inject_script(),
                None,
            )
            .await?;
        let fields = Fields::parse(&out.stdout_str());
        rec.fault
            .ops()
            .injected(&fields)
            .map_err(|detail| FaultError::Unexpected {
                node: rec.node.clone(),
                step: format!("{kind}: inject"),
                detail,
            })?;
        self.store.save(rec)?;
        // Armed once the fault is in place, and before a reset (the timer's units are on disk
        // and enabled, so the boot starts it).
        if let Some(secs) = for_secs {
            let mut plan = timer::plan(&rec.id, secs, on_host);
            rec.auto_revert = Some(plan.clone());
            self.store.save(rec)?;
            let revert = rec.fault.ops().revert_script(None);
            let arm = timer::arm_script(&plan, &format!("{} ({kind})", rec.id));
            let out = self
                .root_ok(
                    on_host,
                    &format!("{kind}: arming the revert timer"),
                    &arm,
                    Some(revert.as_bytes()),
                )
                .await?;
            plan.pid = Fields::parse(&out.stdout_str()).number("pid").ok();
            rec.auto_revert = Some(plan);
            self.store.save(rec)?;
        }
        if rec.fault.ops().resets_node() {
            self.host.reset(&rec.node, self.domain).await?;
            let msg = format!("{} forcibly reset ({} {})", rec.node, kind, rec.id);
            self.event(EventKind::NodeRebooted, rec, msg)?;
        }
        Ok(())
    }

    /// Cancels the timer and runs the revert script; returns what changed.
    async fn undo(&self, rec: &mut FaultRecord) -> Result<Vec<String>, FaultError> {
        let kind = rec.kind();
        let on_host = rec.fault.ops().on_host();
        let mut lines = Vec::new();
        if let Some(plan) = &rec.auto_revert {
            let out = self
                .root_ok(
                    on_host,
                    &format!("{kind}: cancelling the revert timer"),
                    &timer::disarm_script(plan),
                    None,
                )
                .await?;
            lines.extend(out.stdout_str().lines().map(str::to_string));
        }
        let script = rec.fault.ops().revert_script(Some(unix_now()));
        let out = self
            .root_ok(on_host, &format!("{kind}: revert"), &script, None)
            .await?;
        lines.extend(out.stdout_str().lines().map(str::to_string));
        Ok(lines)
    }

    /// Reverts from the record alone. Twice in a row, the second does nothing and says so.
    pub(crate) async fn revert(&self, rec: &mut FaultRecord) -> Result<Reverted, FaultError> {
        if !rec.needs_revert() {
            return Ok(Reverted::Already);
        }
        let result = if rec.prepared {
            self.undo(rec).await.map(Reverted::Done)
        } else {
            Ok(Reverted::NothingChanged)
        };
        match result {
            Ok(done) => self.close(rec, done),
            Err(e) => {
                rec.error = Some(format!("revert failed: {e}"));
                self.store.save(rec)?;
                Err(e)
            }
        }
    }

    /// Closes the record of a fault whose node was just returned to a snapshot taken before it
    /// was injected: what it changed on the node is gone with the rest, so nothing is run. Only
    /// for faults that act on the node itself; a fault on the host side outlives a restore.
    pub(crate) fn restored(&self, rec: &mut FaultRecord) -> Result<Reverted, FaultError> {
        if !rec.needs_revert() {
            return Ok(Reverted::Already);
        }
        debug_assert!(
            !rec.fault.ops().on_host(),
            "{} acts on the host",
            rec.kind()
        );
        self.close(rec, Reverted::Restored)
    }

    /// Records a successful revert, and says so in the lab's events.
    fn close(&self, rec: &mut FaultRecord, done: Reverted) -> Result<Reverted, FaultError> {
        rec.reverted = match &done {
            Reverted::Done(lines) => lines.clone(),
            Reverted::Restored => {
                vec!["the node went back to its snapshot from before the fault".to_string()]
            }
            _ => vec!["nothing had changed on the node".to_string()],
        };
        rec.state = FaultState::Reverted;
        rec.error = None;
        self.store.save(rec)?;
        let msg = format!("fault {} reverted on {} ({})", rec.kind(), rec.node, rec.id);
        self.event(EventKind::FaultReverted, rec, msg)?;
        Ok(done)
    }

    /// Whether the fault is still in effect, by a cheap check on the node.
    pub(crate) async fn verify(&self, rec: &mut FaultRecord) -> Result<Verdict, FaultError> {
        let kind = rec.kind();
        let on_host = rec.fault.ops().on_host();
        let out = self
            .root_ok(
                on_host,
                &format!("{kind}: verify"),
                &rec.fault.ops().verify_script(),
                None,
            )
            .await?;
        Ok(rec
            .fault
            .ops()
            .verdict(&Fields::parse(&out.stdout_str()), unix_now()))
    }
}
