//! The agent fields of the operations pages (VM operations, VMs, VM generator). A fleet of
//! thousands does not fit a `<select>` (10,000 options twice over made the VM operations
//! page the slowest of the UI), so a page offers at most [`AGENT_CHOICES`] agents: those
//! whose name holds what its "Find agent" field says, newest first, and the ones already
//! chosen. `templates/agent_picker.html` draws the field and the note beside it.

use crate::agents;
use crate::agents::store::Narrow;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::state::AppState;

/// Agents offered at most (besides those already chosen).
pub const AGENT_CHOICES: u64 = 50;

pub struct AgentPicker {
    /// (id, name, online) of the agents offered.
    pub options: Vec<(String, String, bool)>,
    /// How many agents match [`Self::find`] in all.
    pub total: u64,
    /// The text of the "Find agent" field.
    pub find: String,
}

impl AgentPicker {
    /// The agents to offer for `find` (only active ones when `active_only`), with those of
    /// `keep` (chosen ones) among them.
    pub async fn load(
        state: &AppState,
        auth: &Auth,
        find: Option<&str>,
        active_only: bool,
        keep: &[&str],
    ) -> ApiResult<Self> {
        let find = find.unwrap_or_default().trim().to_owned();
        let narrow = Narrow {
            find: &find,
            active_only,
        };
        let (agents, total) =
            agents::service::choices(state, auth, narrow, keep, AGENT_CHOICES).await?;
        Ok(Self {
            options: agents
                .into_iter()
                .map(|a| (a.id, a.name, a.online))
                .collect(),
            total,
            find,
        })
    }

    /// Whether `id` is one of the agents offered.
    pub fn offers(&self, id: &str) -> bool {
        self.options.iter().any(|(a, _, _)| a == id)
    }

    /// Whether the page shows the "Find agent" field: the fleet is larger than the list, or
    /// a search narrowed it.
    pub fn searchable(&self) -> bool {
        self.total > AGENT_CHOICES || !self.find.is_empty()
    }

    /// Agents listed of those matching, for the note beside the field.
    pub fn listed(&self) -> u64 {
        self.total.min(AGENT_CHOICES)
    }
}
