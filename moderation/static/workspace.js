// The moderator workspace from the keyboard: j / k move, a approve, r reject (1-6 pick the
// reason), s spam, x select, ? help. Actions are sent with fetch and the handled comments
// leave the list in place; without JavaScript every button posts a plain form instead.
(() => {
  "use strict";
  const queue = document.getElementById("queue");
  const chooser = document.getElementById("reason-chooser");
  const help = document.getElementById("help-overlay");
  const flashArea = document.getElementById("flash");
  const selectionForm = document.getElementById("selection-form");
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  if (!queue || !selectionForm) return;

  const reasons = Array.from(chooser.querySelectorAll("[data-reason]"), (button) => button.dataset.reason);
  let focused = null;
  let pendingReject = null;

  const items = () => Array.from(queue.querySelectorAll("li.queue-item"));
  const selected = () => items().filter((item) => item.classList.contains("is-selected"));
  const targets = () => (selected().length ? selected() : focused ? [focused] : []);

  const focusItem = (item) => {
    if (focused) focused.classList.remove("is-focused");
    focused = item || null;
    if (!focused) return;
    focused.classList.add("is-focused");
    focused.focus({ preventScroll: true });
    focused.scrollIntoView({ block: "nearest" });
  };

  const move = (step) => {
    const all = items();
    if (!all.length) return;
    const index = focused ? all.indexOf(focused) : -1;
    focusItem(all[Math.min(Math.max(index + step, 0), all.length - 1)]);
  };

  const showSelection = () => {
    const count = selected().length;
    document.getElementById("selection-count").textContent = String(count);
    selectionForm.classList.toggle("has-selection", count > 0);
  };

  const syncSelection = (item) => {
    const box = item.querySelector(".select-box");
    item.classList.toggle("is-selected", Boolean(box && box.checked));
    showSelection();
  };

  const toggleSelection = (item) => {
    const box = item && item.querySelector(".select-box");
    if (!box) return;
    box.checked = !box.checked;
    syncSelection(item);
  };

  const flash = (message, kind) => {
    const line = document.createElement("p");
    line.className = `flash flash-${kind}`;
    line.textContent = message;
    flashArea.replaceChildren(line);
  };

  const updateCounts = (counts) => {
    if (!counts) return;
    for (const [status, count] of Object.entries(counts)) {
      const badge = document.querySelector(`[data-count-for="${status}"]`);
      if (badge) badge.textContent = String(count);
    }
  };

  // Remove the comments that left this tab; if the focused one went, focus the next left.
  const removeHandled = (statuses) => {
    const all = items();
    const gone = all.filter((item) => statuses[item.dataset.id] && statuses[item.dataset.id] !== queue.dataset.status);
    const anchor = focused && gone.includes(focused) ? focused : null;
    const next = anchor ? all.slice(all.indexOf(anchor) + 1).find((item) => !gone.includes(item)) : null;
    for (const item of gone) item.remove();
    const left = items();
    if (anchor || !left.includes(focused)) focusItem(next || left[left.length - 1]);
    showSelection();
    if (!left.length) {
      document.getElementById("queue-empty").hidden = false;
      if (queue.dataset.more === "true") location.reload();
    }
  };

  const send = async (action, ids, extra = {}) => {
    if (!ids.length) {
      flash("Move to a comment with j / k, or select some with x, first.", "error");
      return;
    }
    const body = new URLSearchParams({ csrf_token: token, next: location.pathname + location.search, action, ...extra });
    for (const id of ids) body.append("ids", id);
    let response;
    try {
      response = await fetch(selectionForm.getAttribute("action"), { // .action is the button named "action"
        method: "POST",
        body,
        headers: { Accept: "application/json", "X-CSRFToken": token },
        credentials: "same-origin",
      });
    } catch (error) {
      flash("The server did not answer; nothing was changed. Try again.", "error");
      return;
    }
    const answer = await response.json().catch(() => ({ message: `The server answered ${response.status}.` }));
    if (response.status === 401 || answer.error === "form_expired") {
      flash("Your login or this page has expired; reloading. Nothing was changed.", "error");
      setTimeout(() => location.reload(), 1500);
      return;
    }
    if (!response.ok) {
      flash(answer.message || "That did not work.", "error");
      return;
    }
    flash(answer.message, "success");
    updateCounts(answer.counts);
    removeHandled(answer.statuses || {});
  };

  const ids = (list) => list.map((item) => item.dataset.id);

  const openOverlay = (overlay) => {
    overlay.hidden = false;
    overlay.querySelector("button")?.focus();
  };

  const closeOverlays = () => {
    chooser.hidden = true;
    help.hidden = true;
    pendingReject = null;
    if (focused) focused.focus({ preventScroll: true });
  };

  const askReason = () => {
    const chosen = targets();
    if (!chosen.length) {
      flash("Move to a comment with j / k, or select some with x, first.", "error");
      return;
    }
    pendingReject = ids(chosen);
    document.getElementById("reason-chooser-count").textContent =
      chosen.length === 1 ? "1 comment" : `${chosen.length} comments`;
    openOverlay(chooser);
  };

  const reject = (reason) => {
    const chosen = pendingReject;
    closeOverlays();
    if (chosen && reason) send("reject", chosen, { reason });
  };

  const typing = (target) =>
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (!chooser.hidden) {
      const index = Number(event.key) - 1;
      if (event.key === "Escape") closeOverlays();
      else if (Number.isInteger(index) && reasons[index]) reject(reasons[index]);
      else return;
      event.preventDefault();
      return;
    }
    if (!help.hidden) { // the help is in front: no key acts on the comment behind it
      if (event.key === "Escape" || event.key === "?") closeOverlays();
      event.preventDefault();
      return;
    }
    if (typing(event.target)) return;
    const keys = {
      j: () => move(1),
      k: () => move(-1),
      a: () => send("approve", ids(targets())),
      s: () => send("spam", ids(targets())),
      r: askReason,
      x: () => toggleSelection(focused),
      "?": () => openOverlay(help),
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    }
  });

  chooser.addEventListener("click", (event) => {
    const button = event.target.closest("[data-reason]");
    if (button) reject(button.dataset.reason);
    else if (event.target === chooser) closeOverlays();
  });
  help.addEventListener("click", (event) => {
    if (event.target === help) closeOverlays();
  });
  document.getElementById("help-button")?.addEventListener("click", () => openOverlay(help));

  // Clicking in a comment focuses it; ticking its box selects it.
  queue.addEventListener("click", (event) => {
    const item = event.target.closest("li.queue-item");
    if (item && !event.target.closest("a, button, select, summary, input")) focusItem(item);
  });
  document.addEventListener("change", (event) => {
    if (event.target.matches(".select-box")) {
      const item = document.getElementById(`item-${event.target.value}`);
      if (item) syncSelection(item);
    }
  });

  // The buttons of each comment and of the selection bar, sent without leaving the page.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    const button = event.submitter;
    if (!(form.matches(".item-actions") || form === selectionForm) || !button || button.name !== "action") return;
    event.preventDefault();
    const data = new FormData(form, button);
    const chosen = form === selectionForm ? ids(selected()) : data.getAll("ids");
    if (form !== selectionForm) focusItem(form.closest("li.queue-item"));
    send(data.get("action"), chosen, {
      reason: data.get("reason") || "",
      ban_days: data.get("ban_days") || "",
    });
  });

  for (const item of items()) syncSelection(item);
  focusItem(items()[0]);
})();
