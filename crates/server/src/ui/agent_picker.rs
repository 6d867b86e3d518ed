//! The agent field of the operations pages. A fleet of thousands does not fit a `<select>`
//! (10,000 options twice over made the VM operations page the slowest of the UI), so a page
//! offers at most [`AGENT_CHOICES`] agents: those whose name holds what was typed in its
//! "Find agent" field, newest first, and the ones already chosen.

use crate::agents;
use crate::http::ApiResult;
use crate::principal::Auth;
use crate::state::AppState;

/// Agents offered at most (besides those already chosen).
pub const AGENT_CHOICES: u64 = 50;

pub struct AgentPicker {
    /// (id, name) of the agents offered.
    pub options: Vec<(String, String)>,
    /// How many agents match [`Self::find`] in all.
    pub total: u64,
    /// The text of the "Find agent" field.
    pub find: String,
}

impl AgentPicker {
    /// The agents to offer for `find`, with `keep` (chosen ones) always among them.
    pub async fn load(
        state: &AppState,
        auth: &Auth,
        find: Option<&str>,
        keep: &[&str],
    ) -> ApiResult<Self> {
        let find = find.unwrap_or_default().trim().to_owned();
        let (agents, total) =
            agents::service::choices(state, auth, &find, keep, AGENT_CHOICES).await?;
        Ok(Self {
            options: agents.into_iter().map(|a| (a.id, a.name)).collect(),
            total,
            find,
        })
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
