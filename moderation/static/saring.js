// While the reader's own comment is being checked, ask every 1.5 seconds (at most 30
// times) whether it has been decided; when it has, refresh the comment list in place.
// Without JavaScript the page works the same: reloading it shows the decision.
(() => {
  "use strict";
  const INTERVAL_MS = 1500;
  const MAX_TRIES = 30;
  let tries = 0;

  const comments = () => document.getElementById("comments");

  const schedule = () => {
    const section = comments();
    if (section && section.dataset.statusUrl && tries < MAX_TRIES) {
      tries += 1;
      setTimeout(check, INTERVAL_MS);
    }
  };

  const check = async () => {
    try {
      const section = comments();
      const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (response.ok && (await response.json()).checking < Number(section.dataset.checking)) {
        await refresh();
      }
    } finally {
      schedule();
    }
  };

  const refresh = async () => {
    const response = await fetch(location.pathname + location.search, { cache: "no-store" });
    if (!response.ok) return;
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("comments");
    if (fresh) comments().replaceWith(fresh);
  };

  schedule();
})();
