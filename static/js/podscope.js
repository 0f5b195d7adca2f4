// Podscope's own behaviour: small progressive enhancements on server-rendered pages.
(function () {
  "use strict";

  // What each close code means is in dashboard/sockets/codes.py; these are the sentences this page shows.
  const CLOSE_REASONS = {
    1009: "a message was too large: reload the page",
    1011: "Podscope failed: reload the page",
    4400: "Podscope could not read a message from this page: reload it",
    4401: "signed out, or the page is out of date: reload the page",
    4403: "you do not have permission to see this",
    4404: "not found",
    4429: "you have too many pages or connections open: close some, then reload",
  };
  const GOING_AWAY = 1001;
  const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

  function setLive(text, state) {
    document.querySelectorAll("[data-live-state]").forEach(function (el) {
      el.textContent = text;
      el.dataset.state = state;
    });
  }

  function toggleProjector(on) {
    const body = document.body;
    const enable = on === undefined ? !body.classList.contains("projector") : on;
    body.classList.toggle("projector", enable);
    const url = new URL(window.location.href);
    if (enable) url.searchParams.set("projector", "1");
    else url.searchParams.delete("projector");
    history.replaceState(null, "", url);
  }

  function reveal(id) {
    const target = document.getElementById(id);
    if (!target) return;
    if (document.body.classList.contains("projector")) toggleProjector(false);
    target.scrollIntoView({ behavior: "smooth", block: "center" });
    target.classList.remove("flash");
    void target.offsetWidth; // restart the highlight animation
    target.classList.add("flash");
    if (target.tagName === "DETAILS") target.open = true;
  }

  function diagramTarget(event) {
    // A port chip's link opens the pod's port in a new tab; the browser follows it, the diagram leaves it alone.
    if (event.target.closest("#pod-diagram a[href]")) return null;
    const el = event.target.closest("#pod-diagram [data-container], #pod-diagram [data-volume]");
    if (!el) return null;
    return el.dataset.container ? "container-" + el.dataset.container : "volume-" + el.dataset.volume;
  }

  document.addEventListener("click", function (event) {
    const toggle = event.target.closest("[data-projector-toggle]");
    if (toggle) {
      event.preventDefault();
      toggleProjector();
      return;
    }
    const action = event.target.closest("[data-menu-action]");
    if (action) {
      const { menuAction, container } = action.dataset;
      closeMenu();
      if (menuAction === "logs") showLogs(container);
      else if (menuAction === "shell") openShell(container);
      else reveal("container-" + container);
      return;
    }
    closeMenu();
    const id = diagramTarget(event);
    if (!id) return;
    if (id.startsWith("container-") && hasMenu()) {
      openMenu(id.slice("container-".length), event);
    } else {
      reveal(id);
    }
  });

  function terminalUrl() {
    const section = document.querySelector("[data-terminal-url]");
    return section ? section.dataset.terminalUrl : "";
  }

  function hasMenu() {
    return Boolean(document.getElementById("logs") || terminalUrl());
  }

  // A terminal opens in its own tab, so the diagram stays in view in this one.
  function openShell(container) {
    window.open(terminalUrl() + "?container=" + encodeURIComponent(container), "_blank", "noopener");
  }

  // A container in the diagram offers its log (when the log view is on the page), a shell (with the exec
  // permission) and its details.
  function openMenu(container, event) {
    const menu = document.createElement("div");
    menu.className = "diagram-menu";
    menu.id = "diagram-menu";
    menu.setAttribute("role", "menu");
    const items = [];
    if (document.getElementById("logs")) items.push(["logs", "Logs of " + container]);
    if (terminalUrl()) items.push(["shell", "Shell in " + container]);
    items.push(["details", "Details"]);
    items.forEach(function ([action, label]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button button-quiet";
      button.setAttribute("role", "menuitem");
      button.dataset.menuAction = action;
      button.dataset.container = container;
      button.textContent = label;
      menu.appendChild(button);
    });
    document.body.appendChild(menu);
    const x = event.clientX || 0;
    const y = event.clientY || 0;
    menu.style.left = Math.min(x, window.innerWidth - menu.offsetWidth - 8) + window.scrollX + "px";
    menu.style.top = Math.min(y, window.innerHeight - menu.offsetHeight - 8) + window.scrollY + "px";
    menu.querySelector("button").focus();
  }

  function closeMenu() {
    const menu = document.getElementById("diagram-menu");
    if (menu) menu.remove();
  }

  function showLogs(container) {
    const logs = document.getElementById("logs");
    if (!logs) return;
    if (document.body.classList.contains("projector")) toggleProjector(false);
    document.dispatchEvent(new CustomEvent("podscope:show-logs", { detail: { container: container } }));
    logs.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  document.addEventListener("keydown", function (event) {
    if (event.target.closest("input, textarea, select, [contenteditable]") || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if ((event.key === "p" || event.key === "P") && document.body.classList.contains("pod-page")) {
      toggleProjector();
    } else if (event.key === "Escape" && document.getElementById("diagram-menu")) {
      closeMenu();
    } else if (event.key === "Escape" && document.body.classList.contains("projector")) {
      toggleProjector(false);
    } else if (event.key === "Enter") {
      const id = diagramTarget(event);
      if (!id) return;
      if (id.startsWith("container-") && hasMenu()) {
        const box = event.target.getBoundingClientRect();
        openMenu(id.slice("container-".length), { clientX: box.left + 20, clientY: box.top + 20 });
      } else {
        reveal(id);
      }
    }
  });

  document.addEventListener("change", function (event) {
    const el = event.target;
    if (el.matches("select[data-autosubmit]")) el.form.submit();
    if (el.matches("select[data-navigate]")) window.location.href = el.value;
  });

  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("input", function (event) {
    const form = event.target.closest("form[data-sync-url]");
    if (!form) return;
    const url = new URL(window.location.href);
    new FormData(form).forEach(function (value, key) {
      if (value) url.searchParams.set(key, value);
      else url.searchParams.delete(key);
    });
    url.searchParams.delete("page");
    history.replaceState(null, "", url);
  });

  document.addEventListener("htmx:wsOpen", function () {
    setLive("live", "open");
  });
  document.addEventListener("htmx:wsClose", function (event) {
    const code = event.detail && event.detail.event ? event.detail.event.code : 0;
    if (code === GOING_AWAY) {
      setLive("not live: Podscope stopped; this page reloads when it is back", "closed");
      reloadWhenBack(0);
    } else if (CLOSE_REASONS[code]) setLive("not live: " + CLOSE_REASONS[code], "refused");
    else setLive("reconnecting…", "closed");
  });

  // Podscope closes its sockets with 1001 when it stops (a restart, an upgrade). The live parts of a page are
  // rendered by the server, so once it answers again the page is loaded afresh rather than patched.
  function reloadWhenBack(attempt) {
    window.setTimeout(function () {
      fetch(window.location.href, { method: "HEAD", cache: "no-store", redirect: "manual" })
        .then(function (response) {
          if (response.ok || response.type === "opaqueredirect") window.location.reload();
          else reloadWhenBack(attempt + 1);
        })
        .catch(function () {
          reloadWhenBack(attempt + 1);
        });
    }, RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]);
  }
})();
