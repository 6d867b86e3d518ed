// Bot-Mox UI helpers. No inline scripts are allowed by the Content-Security-Policy, so
// behaviour is attached here.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Live sections: an element with `data-live="<url>"` (and an id) is re-rendered from that
// page whenever the command bus event stream (`/events`) reports a change. The server renders
// it, so the page and its live updates never disagree. Changes arriving together cause one
// refresh; the browser's EventSource reconnects by itself and resumes after the last event.
(() => {
  const sections = document.querySelectorAll("[data-live][id]");
  if (sections.length === 0 || !window.EventSource) {
    return;
  }
  let pending = null;
  const refresh = async () => {
    pending = null;
    for (const section of document.querySelectorAll("[data-live][id]")) {
      const response = await fetch(section.dataset.live, { credentials: "same-origin" });
      if (!response.ok) {
        continue;
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(section.id);
      if (fresh) {
        section.replaceWith(fresh);
      }
    }
  };
  const soon = () => {
    if (pending === null) {
      pending = setTimeout(refresh, 100);
    }
  };
  const source = new EventSource("/events");
  source.addEventListener("vm-command", soon);
  source.addEventListener("agent-status", soon);
})();
