//! The server-side VM pipeline (issue 12): a batch of VMs created from a template, each a
//! persisted job that a replica's runner claims and walks through its steps by dispatching
//! agent commands on the bus (clone, resize, configure, register, config ISO, attach,
//! start, boot keys), then waits for the VM's own progress reports and ejects the ISO.
//! Deleting a VM is a job too. A restart resumes each job at its recorded step.

pub mod drive;
pub mod provision;
pub mod routes;
pub mod runner;
pub mod service;
pub mod steps;
pub mod store;
