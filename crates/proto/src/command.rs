//! The command bus (spec api.md §14, agent-and-vm-ops.md §4-5): the typed [`Command`]
//! catalogue and the bodies of dispatch, claim, report, read and events.
//!
//! On the wire a command is the pair `command_type` (a string such as `proxmox.clone`) and
//! `payload` (an object, `{}` when absent). [`Command::from_parts`] turns that pair into one
//! variant with a typed payload, refusing unknown types, unknown keys and bad values in
//! words; [`Command::command_type`] and [`Command::payload`] turn it back, aliases replaced
//! by their canonical spelling.

pub mod allowlist;
mod bus;
mod payload;

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::validate::{FieldErrors, Validate, lenient_opt, shape_error};

pub use bus::*;
pub use payload::*;

/// A command type or payload that is not in the catalogue's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{command_type}: {errors}")]
pub struct CommandError {
    /// The command type as given.
    pub command_type: String,
    /// Under `command_type`, `payload` or `payload.<key>`.
    pub errors: FieldErrors,
}

impl CommandError {
    fn new(command_type: &str, errors: FieldErrors) -> Self {
        Self {
            command_type: command_type.to_owned(),
            errors,
        }
    }
}

impl From<CommandError> for FieldErrors {
    fn from(e: CommandError) -> Self {
        e.errors
    }
}

/// The key names a derived `Deserialize` knows (aliases included), read from what it hands
/// the deserializer, so the list can never drift from the struct.
fn known_keys<P: DeserializeOwned>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);
    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _probed = P::deserialize(Probe(&mut fields));
    fields
}

/// Keys that name a credential get their own refusal: commands never carry secrets.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "privatekey", "secret", "token", "allowunsafe"]
        .iter()
        .any(|s| k.contains(s))
}

/// Read `payload` as `P`: an object (or `null`, meaning `{}`), known keys only, then `P`'s
/// limits and the shared `node`/`target` rules.
fn parse<P: Payload>(command_type: &'static str, payload: Value) -> Result<P, CommandError> {
    let fail = |errors| CommandError::new(command_type, errors);
    let map = match payload {
        Value::Null => Map::new(),
        Value::Object(map) => map,
        _ => {
            return Err(fail(FieldErrors::single(
                "payload",
                "must be a JSON object",
            )));
        }
    };
    let mut errors = FieldErrors::new();
    for key in map.keys() {
        if looks_secret(key) {
            errors.add(
                format!("payload.{key}"),
                "commands carry no credentials; the agent uses its own",
            );
        } else if let Some(problem) = P::key_problem(key) {
            errors.add(format!("payload.{key}"), problem);
        }
    }
    errors.into_result().map_err(fail)?;
    let in_payload = |problems| {
        let mut errors = FieldErrors::new();
        errors.merge_under("payload", problems);
        fail(errors)
    };
    let parsed: P = serde_path_to_error::deserialize(Value::Object(map))
        .map_err(|e| in_payload(shape_error(e)))?;
    parsed.validate().map_err(in_payload)?;
    Ok(parsed)
}

fn to_json<P: Serialize>(payload: &P) -> Value {
    serde_json::to_value(payload).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// One entry of [`Command`]'s schema: `{command_type: <type or alias>, payload: <P>}`;
/// `payload` is required when `P` has required keys (an absent payload is `{}`).
fn variant_schema<P: ToSchema>(command_type: &str, aliases: &[&str], doc: &str) -> ObjectBuilder {
    let types = std::iter::once(command_type).chain(aliases.iter().copied());
    let variant = ObjectBuilder::new()
        .title(Some(command_type))
        .description(Some(doc.trim()))
        .property(
            "command_type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(types)),
        )
        .required("command_type")
        .property("payload", Ref::from_schema_name(P::name()));
    match P::schema() {
        RefOr::T(Schema::Object(payload)) if !payload.required.is_empty() => {
            variant.required("payload")
        }
        _ => variant,
    }
}

/// Declares [`Command`] from one table: variant, payload type, canonical type, aliases.
macro_rules! catalogue {
    ($( $(#[doc = $doc:literal])* $variant:ident($payload:ty) = $ty:literal $(| $alias:literal)* ; )*) => {
        /// A command for an agent: one variant per action of the catalogue, each with its
        /// typed payload. Build one with [`Command::from_parts`] or directly.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Command {
            $( $(#[doc = $doc])* $variant($payload), )*
        }

        /// Every canonical command type, in catalogue order.
        pub const COMMAND_TYPES: &[&str] = &[$($ty),*];

        impl Command {
            /// The command of a wire pair; a `null` payload is `{}`. Aliases such as
            /// `proxmox.list` give the canonical variant.
            pub fn from_parts(command_type: &str, payload: Value) -> Result<Self, CommandError> {
                match command_type {
                    $( $ty $(| $alias)* => parse::<$payload>($ty, payload).map(Self::$variant), )*
                    other => Err(CommandError::new(
                        other,
                        FieldErrors::single(
                            "command_type",
                            format!("unknown command type; known types: {}", COMMAND_TYPES.join(", ")),
                        ),
                    )),
                }
            }

            /// The canonical type, e.g. `proxmox.list-vms` (never an alias).
            pub fn command_type(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => $ty, )*
                }
            }

            /// The payload as it goes over the wire: canonical keys, absent options left out.
            pub fn payload(&self) -> Value {
                match self {
                    $( Self::$variant(p) => to_json(p), )*
                }
            }

            /// The Proxmox node the payload names, if any.
            pub fn node(&self) -> Option<&str> {
                match self {
                    $( Self::$variant(p) => p.node(), )*
                }
            }

            /// The agent's Proxmox target the payload names, if any.
            pub fn target(&self) -> Option<&str> {
                match self {
                    $( Self::$variant(p) => p.target(), )*
                }
            }
        }

        impl PartialSchema for Command {
            fn schema() -> RefOr<Schema> {
                OneOfBuilder::new()
                    .description(Some(
                        "A command: `command_type` and its `payload` ({} when absent).",
                    ))
                    $( .item(variant_schema::<$payload>(
                        $ty,
                        &[$($alias),*],
                        concat!($($doc, "\n"),*),
                    )) )*
                    .into()
            }
        }

        impl ToSchema for Command {
            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                $(
                    schemas.push((
                        <$payload as ToSchema>::name().into_owned(),
                        <$payload as PartialSchema>::schema(),
                    ));
                    <$payload as ToSchema>::schemas(schemas);
                )*
            }
        }
    };
}

catalogue! {
    /// Power a VM on.
    Start(OnVm) = "proxmox.start";
    /// Power a VM off hard.
    Stop(OnVm) = "proxmox.stop";
    /// Ask the guest to shut down.
    Shutdown(OnVm) = "proxmox.shutdown";
    /// Reset a VM hard.
    Reset(OnVm) = "proxmox.reset";
    /// Pause a VM.
    Suspend(OnVm) = "proxmox.suspend";
    /// Resume a paused VM.
    Resume(OnVm) = "proxmox.resume";
    /// Clone a template into a new VM.
    Clone(CloneVm) = "proxmox.clone";
    /// Destroy a VM.
    Delete(DeleteVm) = "proxmox.delete";
    /// The node's VMs.
    ListVms(OnNode) = "proxmox.list-vms" | "proxmox.list";
    /// A VM's current status.
    VmStatus(OnVm) = "proxmox.vm-status";
    /// A VM's config.
    GetConfig(OnVm) = "proxmox.get-config" | "proxmox.config.get";
    /// Set VM config keys.
    UpdateConfig(UpdateConfig) = "proxmox.update-config" | "proxmox.config.update";
    /// Grow (or set) a disk's size.
    ResizeDisk(ResizeDisk) = "proxmox.resize-disk";
    /// A task's status.
    TaskStatus(TaskRef) = "proxmox.task-status";
    /// Wait for a task to stop.
    WaitTask(WaitTask) = "proxmox.wait-task";
    /// Wait for a VM to reach a run state.
    WaitVmStatus(WaitVmStatus) = "proxmox.wait-vm-status";
    /// Wait for a VM to appear or disappear.
    WaitVmPresence(WaitVmPresence) = "proxmox.wait-vm-presence";
    /// Press a key in a VM.
    SendKey(SendKey) = "proxmox.sendkey";
    /// The cluster's resources.
    ClusterResources(ClusterResources) = "proxmox.cluster-resources";
    /// Whether Proxmox answers, and its version.
    Status(OnNode) = "proxmox.status";
    /// Log in to Proxmox.
    Login(ProxmoxLogin) = "proxmox.login";
    /// The agent's Proxmox targets (answered from its own config).
    ListTargets(OnNode) = "proxmox.list-targets";
    /// Whether SSH is configured and connects.
    SshStatus(SshProbe) = "proxmox.ssh-status";
    /// Test the SSH connection.
    SshTest(SshProbe) = "proxmox.ssh-test";
    /// Check the SSH connection before first use.
    SshBootstrap(SshProbe) = "proxmox.ssh-bootstrap";
    /// Read a VM's config file over SSH.
    SshReadConfig(SshReadConfig) = "proxmox.ssh-read-config";
    /// Write a VM's config file over SSH.
    SshWriteConfig(SshWriteConfig) = "proxmox.ssh-write-config";
    /// Run one allowlisted command over SSH.
    SshExec(SshExec) = "proxmox.ssh-exec";
    /// Build a provisioning ISO on the node.
    CreateProvisionIso(CreateProvisionIso) = "proxmox.create-provision-iso";
    /// Insert an ISO into a CD-ROM drive.
    AttachCdrom(AttachCdrom) = "proxmox.attach-cdrom";
    /// Eject a CD-ROM drive's medium.
    DetachCdrom(DetachCdrom) = "proxmox.detach-cdrom";
    /// The guest agent's network interfaces (addresses of a running VM).
    GuestNetwork(OnVm) = "proxmox.guest-network";
    /// Download an ISO from a URL into a storage of the node.
    UploadIso(UploadIso) = "proxmox.upload-iso";
}

/// The read-only types (spec §4.3 step 4): an equal dispatch shortly after an earlier one
/// is answered by that one instead of queueing another.
pub const READ_ONLY_TYPES: &[&str] = &[
    "proxmox.status",
    "proxmox.ssh-status",
    "proxmox.ssh-test",
    "proxmox.list-vms",
    "proxmox.list-targets",
    "proxmox.cluster-resources",
    "proxmox.get-config",
    "proxmox.vm-status",
];

impl Command {
    /// Whether this is one of [`READ_ONLY_TYPES`].
    pub fn is_read_only(&self) -> bool {
        READ_ONLY_TYPES.contains(&self.command_type())
    }
}

/// Whether commands of this type carry parts only the agent may read (see
/// [`withhold_secrets`]): the config ISO's command alone.
pub fn carries_secrets(command_type: &str) -> bool {
    command_type == "proxmox.create-provision-iso"
}

/// Empty the parts of a stored payload that carry secrets only the agent may read: the
/// config ISO's files (the VM's provisioning token, its encoded Windows password). Views for
/// people show the payload so, and the store keeps it so once the command has ended; the
/// file names stay. `false` when the type has no such parts.
pub fn withhold_secrets(command_type: &str, payload: &mut Value) -> bool {
    if !carries_secrets(command_type) {
        return false;
    }
    match payload.get_mut("files").and_then(Value::as_object_mut) {
        Some(files) => {
            for content in files.values_mut() {
                *content = Value::String(String::new());
            }
            true
        }
        None => false,
    }
}

/// Queued commands expire after this unless the dispatch says otherwise.
pub const DEFAULT_EXPIRES_IN_SECONDS: u32 = 300;

/// `POST /vm-ops/commands` (admins and owners): `{agent_id, command_type, payload?,
/// expires_in_seconds? 10..3600 (default 300), queue_if_offline?}`. `command_type` and
/// `payload` stay top-level keys on the wire; here they are one [`Command`].
#[derive(Debug, Clone, PartialEq)]
pub struct DispatchRequest {
    pub agent_id: String,
    pub command: Command,
    pub expires_in_seconds: Option<u32>,
    /// Queue even when the agent is offline (otherwise 409 `AGENT_OFFLINE`).
    pub queue_if_offline: Option<bool>,
}

/// The dispatch body as it is on the wire.
#[derive(Serialize, Deserialize)]
struct DispatchWire {
    agent_id: String,
    command_type: String,
    #[serde(default)]
    payload: Value,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    expires_in_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue_if_offline: Option<bool>,
}

impl DispatchRequest {
    pub fn new(agent_id: impl Into<String>, command: Command) -> Self {
        Self {
            agent_id: agent_id.into(),
            command,
            expires_in_seconds: None,
            queue_if_offline: None,
        }
    }

    /// Seconds until the queued command expires, the default filled in.
    pub fn ttl_seconds(&self) -> u32 {
        self.expires_in_seconds
            .unwrap_or(DEFAULT_EXPIRES_IN_SECONDS)
    }

    /// Read and check a dispatch body, every problem under its field (`agent_id`,
    /// `command_type`, `payload.<key>`, ...). Prefer this to plain serde, whose error can
    /// only say the same in one sentence.
    pub fn parse(body: Value) -> Result<Self, FieldErrors> {
        let wire: DispatchWire = serde_path_to_error::deserialize(body).map_err(shape_error)?;
        let mut errors = FieldErrors::new();
        check_dispatch(&mut errors, &wire.agent_id, wire.expires_in_seconds);
        match Command::from_parts(&wire.command_type, wire.payload) {
            Ok(command) => {
                errors.into_result()?;
                Ok(Self {
                    agent_id: wire.agent_id,
                    command,
                    expires_in_seconds: wire.expires_in_seconds,
                    queue_if_offline: wire.queue_if_offline,
                })
            }
            Err(e) => {
                errors.merge(e.errors);
                Err(errors)
            }
        }
    }
}

fn check_dispatch(e: &mut FieldErrors, agent_id: &str, expires_in_seconds: Option<u32>) {
    e.required_text("agent_id", agent_id, 200);
    e.in_range("expires_in_seconds", expires_in_seconds, 10, 3600);
}

impl Validate for DispatchRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_dispatch(&mut e, &self.agent_id, self.expires_in_seconds);
        e.into_result()
    }
}

impl Serialize for DispatchRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DispatchWire {
            agent_id: self.agent_id.clone(),
            command_type: self.command.command_type().to_owned(),
            payload: self.command.payload(),
            expires_in_seconds: self.expires_in_seconds,
            queue_if_offline: self.queue_if_offline,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for DispatchRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = DispatchWire::deserialize(d)?;
        let command =
            Command::from_parts(&wire.command_type, wire.payload).map_err(de::Error::custom)?;
        Ok(Self {
            agent_id: wire.agent_id,
            command,
            expires_in_seconds: wire.expires_in_seconds,
            queue_if_offline: wire.queue_if_offline,
        })
    }
}

impl PartialSchema for DispatchRequest {
    fn schema() -> RefOr<Schema> {
        let envelope = ObjectBuilder::new()
            .property(
                "agent_id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(200)),
            )
            .required("agent_id")
            .property(
                "expires_in_seconds",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(10))
                    .maximum(Some(3600))
                    .description(Some("Default 300")),
            )
            .property(
                "queue_if_offline",
                ObjectBuilder::new()
                    .schema_type(Type::Boolean)
                    .description(Some("Queue even when the agent is offline")),
            );
        AllOfBuilder::new()
            .item(envelope)
            .item(Ref::from_schema_name(Command::name()))
            .into()
    }
}

impl ToSchema for DispatchRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Command::name().into_owned(), Command::schema()));
        Command::schemas(schemas);
    }
}

/// `POST /vm-ops/proxmox/{action}` (the reference's route): `{agent_id, params?,
/// queue_if_offline?, expires_in_seconds?}`; the command is `proxmox.<action>` with `params`
/// as its payload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProxmoxDispatchRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub agent_id: String,
    /// The payload of `proxmox.<action>` (default `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_if_offline: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(minimum = 10, maximum = 3600)]
    pub expires_in_seconds: Option<u32>,
}

impl ProxmoxDispatchRequest {
    /// `proxmox.<action>` with `params`.
    pub fn command(&self, action: &str) -> Result<Command, CommandError> {
        let payload = self.params.clone().map_or(Value::Null, Value::Object);
        Command::from_parts(&format!("proxmox.{action}"), payload)
    }

    /// The same dispatch in the general form.
    pub fn into_dispatch(self, action: &str) -> Result<DispatchRequest, CommandError> {
        Ok(DispatchRequest {
            command: self.command(action)?,
            agent_id: self.agent_id,
            expires_in_seconds: self.expires_in_seconds,
            queue_if_offline: self.queue_if_offline,
        })
    }

    /// The reference route's form of `command`: its action (the type without `proxmox.`)
    /// and the request carrying its payload as `params`.
    pub fn for_command(agent_id: impl Into<String>, command: &Command) -> (&'static str, Self) {
        let action = command
            .command_type()
            .strip_prefix("proxmox.")
            .unwrap_or(command.command_type());
        let params = match command.payload() {
            Value::Object(map) => Some(map),
            _ => None,
        };
        let request = Self {
            agent_id: agent_id.into(),
            params,
            ..Self::default()
        };
        (action, request)
    }
}

impl Validate for ProxmoxDispatchRequest {
    fn validate(&self) -> Result<(), FieldErrors> {
        let mut e = FieldErrors::new();
        check_dispatch(&mut e, &self.agent_id, self.expires_in_seconds);
        e.into_result()
    }
}

#[cfg(test)]
mod tests;
