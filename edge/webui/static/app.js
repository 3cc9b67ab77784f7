// OnCallNova console: a little progressive JavaScript on server-rendered pages.
// Every page works without it (forms post and redirect); with it, incidents arrive live over
// Server-Sent Events and actions are sent without leaving the page. No library, no inline
// script (the Content-Security-Policy allows only this file).
"use strict";

(function () {
  const page = document.body.dataset.page || "";
  const status = document.getElementById("live-status");

  function say(text) {
    if (status) status.textContent = text;
  }

  async function fragment(url) {
    const response = await fetch(url, { headers: { Accept: "text/html" }, credentials: "same-origin" });
    if (!response.ok) return null;
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    return template.content;
  }

  // --- ages ---------------------------------------------------------------------------
  function humanAge(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + "s";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + "m";
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + "h " + String(minutes % 60).padStart(2, "0") + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }
  function refreshAges() {
    const now = Date.now();
    for (const el of document.querySelectorAll("time[data-age]")) {
      el.textContent = humanAge((now - Date.parse(el.getAttribute("datetime"))) / 1000);
    }
  }
  setInterval(refreshAges, 30000);

  // --- forms sent in the background ---------------------------------------------------
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
      return;
    }
    if (!("async" in form.dataset)) return;
    event.preventDefault();
    const button = event.submitter || form.querySelector("button[type=submit]");
    const label = button ? button.textContent : "";
    if (button) {
      button.disabled = true;
      button.textContent = "Sending…";
    }
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 202) {
        say((button && button.dataset.action ? button.dataset.action : "Action") + " sent");
        const note = form.querySelector("textarea");
        if (note) note.value = "";
      } else {
        const message = body.error ? body.error.message : "HTTP " + response.status;
        say("Not done: " + message);
      }
    } catch (error) {
      say("Not sent: the server cannot be reached");
    } finally {
      if (button && button.isConnected) {
        button.disabled = false;
        button.textContent = label;
      }
    }
  });

  // --- copy buttons, select all -------------------------------------------------------
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (error) {
      window.getSelection().selectAllChildren(source);
      button.textContent = "Press Ctrl+C";
    }
    setTimeout(() => (button.textContent = "Copy"), 2000);
  });
  const selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      for (const box of document.querySelectorAll("input[name=incident_id]")) box.checked = selectAll.checked;
    });
  }

  // --- the live feed ------------------------------------------------------------------
  const handlers = {
    dashboard: onDashboardEvent,
    incident: onIncidentEvent,
    incidents: onListEvent,
  };
  const handler = handlers[page];
  if (!handler || !("EventSource" in window)) return;
  const seq = document.body.dataset.seq;
  // `after` is the stream position the page was rendered at; on a reconnect the browser
  // sends Last-Event-ID itself and the server resumes from the stream after it.
  const source = new EventSource("/ui/events" + (seq ? "?after=" + encodeURIComponent(seq) : ""));
  source.onopen = () => say("Live");
  source.onerror = () => say("Reconnecting…");
  // One event at a time, in stream order, so a slow fragment never lets an older state win.
  let queue = Promise.resolve();
  source.onmessage = (message) => {
    let data;
    try {
      data = JSON.parse(message.data);
    } catch (error) {
      return;
    }
    queue = queue.then(() => handler(data)).catch(() => undefined);
  };

  let countsTimer = null;
  function refreshCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(async () => {
      const counts = await fragment("/ui/fragments/counts");
      const current = document.getElementById("counts");
      if (counts && current) current.replaceWith(counts);
    }, 200);
  }

  function syncEmpty() {
    for (const note of document.querySelectorAll("[data-empty-for]")) {
      const body = document.getElementById(note.dataset.emptyFor);
      note.hidden = !!(body && body.children.length);
    }
  }

  async function onDashboardEvent(data) {
    const incident = data.incident;
    if (!incident) return;
    const existing = document.getElementById("incident-" + incident.id);
    if (incident.status === "resolved") {
      if (existing) existing.remove();
    } else {
      const content = await fragment("/ui/fragments/incident-row/" + encodeURIComponent(incident.id));
      const row = content && content.querySelector("tr");
      if (!row) return;
      const current = document.getElementById("incident-" + incident.id);
      const body = document.getElementById("open-" + row.dataset.urgency);
      if (current && current.parentElement === body) {
        current.replaceWith(row);
      } else {
        if (current) current.remove();
        if (body) body.prepend(row);
        row.classList.add("flash-row");
      }
    }
    syncEmpty();
    refreshCounts();
  }

  async function onIncidentEvent(data) {
    const live = document.getElementById("incident-live");
    if (!live || !data.incident || data.incident.id !== live.dataset.incident) return;
    const content = await fragment("/ui/fragments/incident/" + encodeURIComponent(live.dataset.incident));
    if (!content) return;
    // Keep what the person is typing.
    const note = live.querySelector("textarea");
    const typed = note ? note.value : "";
    const focused = document.activeElement && live.contains(document.activeElement) ? document.activeElement.id : null;
    live.replaceChildren(content);
    const newNote = live.querySelector("textarea");
    if (newNote) newNote.value = typed;
    if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    say(data.event.replace("_", " "));
  }

  function onListEvent(data) {
    const incident = data.incident;
    if (!incident) return;
    const row = document.querySelector('tr[data-incident="' + CSS.escape(incident.id) + '"]');
    if (!row) {
      if (data.event === "triggered") document.getElementById("new-banner").hidden = false;
      return;
    }
    row.dataset.status = incident.status;
    const badge = row.querySelector(".badge[class*=status-]");
    if (badge) {
      badge.className = "badge status-" + incident.status;
      badge.textContent = incident.status;
    }
  }
})();
