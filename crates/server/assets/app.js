// Bot-Mox UI helpers. No inline scripts are allowed by the Content-Security-Policy, so
// behaviour is attached here.
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const message = button && button.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// Copy buttons: `data-copy="<id>"` copies that element's text. Where the clipboard is not
// available (a page not served over https or from localhost), the text is selected instead
// for the user to copy.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-copy]");
  const source = button && document.getElementById(button.dataset.copy);
  if (!source) {
    return;
  }
  try {
    await navigator.clipboard.writeText(source.textContent);
    button.textContent = "Copied";
  } catch (_) {
    window.getSelection().selectAllChildren(source);
    button.textContent = "Selected: press Ctrl+C";
  }
});

// Times: the server writes `<time datetime="…Z">DD.MM.YYYY HH:MM UTC</time>`; shown here in
// the viewer's time zone, the UTC text kept as the tooltip, and with how long ago for those
// marked `data-ago`. Run on load and on every section a live refresh brings in.
const localTimes = (root) => {
  const pad = (n) => String(n).padStart(2, "0");
  const ago = (ms) => {
    const minutes = Math.max(0, Math.floor(ms / 60000));
    const unit = (n, one) => `${n} ${one}${n === 1 ? "" : "s"} ago`;
    if (minutes < 1) return "just now";
    if (minutes < 120) return unit(minutes, "minute");
    if (minutes < 48 * 60) return unit(Math.floor(minutes / 60), "hour");
    return unit(Math.floor(minutes / 1440), "day");
  };
  for (const element of root.querySelectorAll("time[datetime]:not([data-local])")) {
    const at = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) {
      continue;
    }
    element.title = element.textContent;
    let text = `${pad(at.getDate())}.${pad(at.getMonth() + 1)}.${at.getFullYear()} `
      + `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    if (element.hasAttribute("data-ago")) {
      text += ` (${ago(Date.now() - at.getTime())})`;
    }
    element.textContent = text;
    element.dataset.local = "";
  }
};
localTimes(document);

// Live sections: an element with `data-live="<url>"` (and an id) is re-rendered from that
// page whenever the command bus event stream (`/events`) reports a change. The server renders
// it, so the page and its live updates never disagree. A section with `data-live-types`
// (command types, space-separated) re-renders only when one of those commands finishes, so
// a section that itself runs a command to render (the VM list) does not re-render on its own
// command's events. One with `data-live-now` is also rendered once right after the page
// loads. Changes arriving together cause one refresh; the browser's EventSource reconnects
// by itself and resumes after the last event.
(() => {
  if (document.querySelectorAll("[data-live][id]").length === 0 || !window.EventSource) {
    return;
  }
  const due = new Set();
  let pending = null;
  const refresh = async () => {
    pending = null;
    const ids = [...due];
    due.clear();
    for (const id of ids) {
      const section = document.getElementById(id);
      if (!section || !section.dataset.live) {
        continue;
      }
      const response = await fetch(section.dataset.live, { credentials: "same-origin" });
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById(id);
      if (fresh) {
        section.replaceWith(fresh);
        localTimes(fresh);
      }
    }
  };
  const schedule = (delay) => {
    if (due.size > 0 && pending === null) {
      pending = setTimeout(refresh, delay);
    }
  };
  const finished = ["command.succeeded", "command.failed", "command.cancelled", "command.expired"];
  const wants = (section, event) => {
    const types = section.dataset.liveTypes;
    if (!types) {
      return true;
    }
    try {
      const data = JSON.parse(event.data);
      return Boolean(data.command) && finished.includes(data.event_type)
        && types.split(" ").includes(data.command.command_type);
    } catch (_) {
      return false;
    }
  };
  const changed = (event) => {
    for (const section of document.querySelectorAll("[data-live][id]")) {
      if (wants(section, event)) {
        due.add(section.id);
      }
    }
    schedule(100);
  };
  for (const section of document.querySelectorAll("[data-live-now][id]")) {
    due.add(section.id);
  }
  schedule(0);
  const source = new EventSource("/events");
  source.addEventListener("vm-command", changed);
  source.addEventListener("agent-status", changed);
  source.addEventListener("vm-job", changed);
})();

// A refused form posted by script: each field's problem goes under its input (as the server
// draws it on refused pages), the earlier ones are cleared; answers whether any was placed.
const showFieldProblems = (form, details) => {
  form.querySelectorAll(".field-error").forEach((shown) => shown.remove());
  const fields = (details && details.fieldErrors) || {};
  let placed = false;
  for (const [name, problems] of Object.entries(fields)) {
    const input = form.elements.namedItem(name);
    const label = input && input.closest ? input.closest("label") : null;
    if (!label) {
      continue;
    }
    const problem = document.createElement("span");
    problem.className = "field-error";
    problem.dataset.field = name;
    problem.textContent = [].concat(problems).join("; ");
    problem.title = problem.textContent;
    label.append(problem);
    placed = true;
  }
  return placed;
};

// The artifact upload of the Artifacts page: the file goes as the raw body of one request
// (the server streams it to the blob store and hashes it), the bar follows the bytes sent,
// and once the server has recorded the release the page's releases and assignment form are
// rendered again from the server.
(() => {
  const form = document.querySelector("form[data-upload]");
  if (!form) {
    return;
  }
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = form.querySelector("button");
  const refresh = async () => {
    const response = await fetch("/artifacts", { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["releases", "assign-form"]) {
      const fresh = page.getElementById(id);
      const current = document.getElementById(id);
      if (fresh && current) {
        current.replaceWith(fresh);
      }
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) {
      status.textContent = "Choose a file.";
      return;
    }
    const query = new URLSearchParams();
    for (const name of ["module", "platform", "version", "channel"]) {
      const value = form.elements[name].value.trim();
      if (value) {
        query.set(name, value);
      }
    }
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${form.dataset.upload}?${query}`);
    xhr.setRequestHeader("X-CSRF-Token", form.dataset.csrf);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    bar.hidden = false;
    bar.value = 0;
    button.disabled = true;
    status.textContent = "Uploading…";
    delete status.dataset.releaseId;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        status.textContent = `Uploading: ${bar.value}% of ${file.size} bytes`;
      }
    });
    xhr.addEventListener("load", async () => {
      button.disabled = false;
      let answer = null;
      try {
        answer = JSON.parse(xhr.responseText);
      } catch (_) {
        answer = null;
      }
      if (xhr.status === 201 && answer && answer.data) {
        showFieldProblems(form, null);
        bar.value = 100;
        status.textContent = `Uploaded release ${answer.data.id}: ${answer.data.size_bytes} bytes, SHA-256 ${answer.data.sha256}`;
        status.dataset.releaseId = answer.data.id;
        await refresh();
      } else {
        const error = answer && answer.error;
        const placed = error ? showFieldProblems(form, error.details) : false;
        const reason = error ? error.message : `HTTP ${xhr.status}`;
        status.textContent = placed ? "Upload failed: see the marked fields." : `Upload failed: ${reason}`;
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      status.textContent = "Upload failed: the connection broke.";
    });
    xhr.send(file);
  });
})();

// The resource tree (ui/tree.rs): fetched after the page, so no page waits on its counts,
// and changed here: open or close a node, filter by bot status, collapse the navigation,
// drag or key its edge to resize it. Each change is sent (in order) as the user's whole
// state, and the server answers the tree as it now shows it.
(() => {
  let root = document.getElementById("resource-tree");
  const shell = document.querySelector(".shell");
  const aside = document.querySelector("aside.tree");
  const toggle = document.getElementById("tree-toggle");
  const resizer = document.getElementById("tree-resizer");
  if (!root || !root.dataset.tree || !shell || !aside || !toggle || !resizer) {
    return;
  }
  const csrf = document.querySelector('input[name="_csrf"]');
  const [minWidth, maxWidth] = [220, 460];
  let state = null;
  // At most one save in flight; a change made meanwhile is sent once it is answered. Each
  // save carries the whole state, so only the newest unsent one matters.
  let sending = false;
  let unsent = false;

  const layout = () => {
    shell.classList.toggle("tree-collapsed", state.collapsed);
    toggle.setAttribute("aria-expanded", String(!state.collapsed));
    toggle.textContent = state.collapsed ? "»" : "«";
    aside.style.width = `${state.width}px`;
    resizer.setAttribute("aria-valuenow", String(state.width));
  };
  // The node of the current page: the link to exactly this address, else to this path.
  const markCurrent = () => {
    const links = [...root.querySelectorAll("a[href]")];
    const exact = links.filter((a) => a.getAttribute("href") === location.pathname + location.search);
    const current = exact.length > 0 ? exact : links.filter((a) => a.getAttribute("href") === location.pathname);
    for (const a of current) {
      a.classList.add("active");
      a.setAttribute("aria-current", "page");
    }
  };
  // Where the focus was inside the tree, to put it back once the tree is replaced.
  const focusSelector = (element) => {
    if (element.id) {
      return `#${CSS.escape(element.id)}`;
    }
    if (element.name === "tree-status") {
      return `input[name="tree-status"][value="${CSS.escape(element.value)}"]`;
    }
    const node = element.closest("details[data-key]");
    return node ? `details[data-key="${CSS.escape(node.dataset.key)}"] > summary` : null;
  };
  const show = (html) => {
    const fresh = new DOMParser().parseFromString(html, "text/html").getElementById("resource-tree");
    if (!fresh) {
      return;
    }
    const focused = root.contains(document.activeElement) ? focusSelector(document.activeElement) : null;
    root.replaceWith(fresh);
    root = fresh;
    state = JSON.parse(fresh.dataset.state);
    markCurrent();
    layout();
    const refocus = focused && root.querySelector(focused);
    if (refocus) {
      refocus.focus();
    }
  };
  // `keepalive` lets a save outlive the page, so a change made just before the user follows
  // a link is still kept.
  const send = () => {
    const body = new URLSearchParams({ _csrf: csrf ? csrf.value : "", state: JSON.stringify(state) });
    return fetch("/ui/tree", { method: "POST", credentials: "same-origin", body, keepalive: true });
  };
  const save = async () => {
    unsent = true;
    if (sending) {
      return;
    }
    sending = true;
    while (unsent) {
      unsent = false;
      try {
        const response = await send();
        if (response.ok && !unsent) {
          show(await response.text());
        }
      } catch {
        // Kept with the next change; the page goes on with the state it shows.
      }
    }
    sending = false;
  };
  // Leaving while a save is in flight: send the newest state now rather than after it.
  window.addEventListener("pagehide", () => {
    if (unsent) {
      unsent = false;
      send().catch(() => {});
    }
  });

  document.addEventListener("toggle", (event) => {
    const node = event.target;
    if (!state || !root.contains(node) || !node.dataset || !node.dataset.key) {
      return;
    }
    const key = node.dataset.key;
    if (node.open === state.open.includes(key)) {
      return;
    }
    state.open = node.open ? [...state.open, key] : state.open.filter((k) => k !== key);
    save();
  }, true);
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (!state || box.name !== "tree-status" || !root.contains(box)) {
      return;
    }
    state.hidden = box.checked
      ? state.hidden.filter((s) => s !== box.value)
      : [...state.hidden, box.value];
    save();
  });
  document.addEventListener("click", (event) => {
    if (state && event.target.closest("#tree-filters-toggle")) {
      state.show_filters = !state.show_filters;
      document.getElementById("tree-filters").hidden = !state.show_filters;
      save();
    }
  });
  toggle.addEventListener("click", () => {
    if (state) {
      state.collapsed = !state.collapsed;
      layout();
      save();
    }
  });
  // Resizing: drag the edge, or focus it and press the arrow keys.
  const resize = (width) => {
    state.width = Math.min(maxWidth, Math.max(minWidth, Math.round(width)));
    layout();
  };
  resizer.addEventListener("pointerdown", (event) => {
    if (!state || state.collapsed) {
      return;
    }
    event.preventDefault();
    resizer.setPointerCapture(event.pointerId);
    const left = aside.getBoundingClientRect().left;
    const move = (e) => resize(e.clientX - left);
    const up = () => {
      resizer.removeEventListener("pointermove", move);
      resizer.removeEventListener("pointerup", up);
      save();
    };
    resizer.addEventListener("pointermove", move);
    resizer.addEventListener("pointerup", up);
  });
  resizer.addEventListener("keydown", (event) => {
    const step = { ArrowLeft: -10, ArrowRight: 10 }[event.key];
    if (state && !state.collapsed && step) {
      event.preventDefault();
      resize(state.width + step);
      save();
    }
  });

  fetch(root.dataset.tree, { credentials: "same-origin" })
    .then(async (response) => {
      if (response.ok) {
        show(await response.text());
      }
    })
    .catch(() => {});
})();

// Kanban: a card dragged onto another column moves there, by the same form as its move
// buttons (which stay the way to move a card by keyboard).
(() => {
  const board = document.getElementById("board");
  if (!board) {
    return;
  }
  let dragged = null;
  const clear = () => {
    for (const column of board.querySelectorAll(".drop-target")) {
      column.classList.remove("drop-target");
    }
  };
  // The column under the pointer, when the dragged card may move there.
  const targetOf = (event) => {
    const column = event.target.closest && event.target.closest("section.column[data-status]");
    return dragged && column && !column.contains(dragged) ? column : null;
  };
  board.addEventListener("dragstart", (event) => {
    dragged = event.target.closest && event.target.closest("li.card");
    if (dragged) {
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", dragged.dataset.title || "");
      dragged.classList.add("dragging");
    }
  });
  board.addEventListener("dragend", () => {
    if (dragged) {
      dragged.classList.remove("dragging");
    }
    dragged = null;
    clear();
  });
  board.addEventListener("dragover", (event) => {
    const column = targetOf(event);
    if (column) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      clear();
      column.classList.add("drop-target");
    }
  });
  board.addEventListener("drop", (event) => {
    const column = targetOf(event);
    if (!column) {
      return;
    }
    event.preventDefault();
    const move = dragged.querySelector(`button[name="status"][value="${CSS.escape(column.dataset.status)}"]`);
    clear();
    if (move) {
      move.form.requestSubmit(move);
    }
  });
})();

// The bot's Configure tab: a suggested character name fills the name input; the race
// select offers the races of the chosen faction and the class select the classes of the
// chosen race, from the project's reference data (`data-reference` on the form). The
// server checks the same on save.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-fill-name]");
  const input = button && button.form && button.form.elements["character/name"];
  if (input) {
    input.value = button.dataset.fillName;
  }
});
const referenceFilter = (form) => {
  let reference;
  try {
    reference = JSON.parse(form.dataset.reference);
  } catch (_) {
    return;
  }
  const restrict = (select, allowed) => {
    if (!select || select.tagName !== "SELECT") return;
    for (const option of select.options) {
      option.hidden = Boolean(option.value) && Array.isArray(allowed) && !allowed.includes(option.value);
    }
    if (select.selectedOptions[0] && select.selectedOptions[0].hidden) {
      select.value = "";
    }
  };
  const apply = () => {
    const faction = form.elements["character/faction"];
    const race = form.elements["character/race"];
    restrict(race, faction && faction.value ? (reference.races || {})[faction.value] : null);
    restrict(form.elements["character/class"], race && race.value ? (reference.classes || {})[race.value] : null);
  };
  form.addEventListener("change", apply);
  apply();
};
for (const form of document.querySelectorAll("form[data-reference]")) {
  referenceFilter(form);
}

// The theme image upload of the Settings page: the file goes as the raw body of one request
// with the CSRF token in a header; once the server has kept it (and made it the background)
// the page loads again to show it.
(() => {
  const form = document.querySelector("form[data-theme-upload]");
  if (!form) {
    return;
  }
  const status = document.getElementById("theme-upload-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    if (!file) {
      status.textContent = "Choose an image.";
      return;
    }
    status.textContent = "Uploading…";
    const response = await fetch(form.dataset.themeUpload, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.dataset.csrf, "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    if (response.ok) {
      window.location.assign("/settings?notice=theme-saved#theme");
      return;
    }
    let message = `The upload failed (${response.status}).`;
    try {
      message = (await response.json()).error.message;
    } catch (_) {
      // keep the status line
    }
    status.textContent = message;
  });
})();
