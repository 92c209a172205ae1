/* Saring's comment widget. A news site puts it where the comments go:
 *
 *   <div id="saring-comments"></div>
 *   <script src="https://SARING/static/widget.js" data-site="poros-warta" data-article="ARTICLE-ID"
 *           data-key="pk_…" data-lang="id" async></script>
 *
 * It shows the article's approved comments (replies nested) and the reply form, posts with
 * the site's publishable key, and tells the writer their comment awaits moderation until it
 * is decided (the comment's id and receipt are kept in this browser's localStorage, never
 * the email). Whatever a commenter wrote is inserted as text, never as HTML. No
 * dependencies, no inline script or style, no eval: a page's Content-Security-Policy needs
 * only Saring's origin in script-src, style-src and connect-src. Optional: data-target (the
 * container's id), data-article-url, data-article-title. */
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script) return;
  const options = script.dataset;
  const base = new URL("../", script.src); // widget.js is served from Saring's /static/
  const lang = options.lang === "en" ? "en" : "id";
  const framed = options.embedded !== undefined;
  const STORE = `saring:${options.site}:${options.article}`;
  const KEPT = 10;
  const PER_PAGE = 50;
  const POLL_MS = 1500;
  const POLL_MAX_MS = 15000;
  const POLL_FOR_MS = 10 * 60 * 1000;
  const FIELDS = ["content", "author_name", "author_email", "author_url"];
  const REQUIRED = new Set(["content", "author_name", "author_email"]);
  const WEB = /^https?:\/\//i;
  const LINK = /https?:\/\/[^\s<>"']+/gi;
  const FETCH = { credentials: "omit", cache: "no-store" };

  let words, limits, root, list, more, form, summary, title, submit, announcer;
  let comments = [];
  let pages = 1;
  let replyTo = null;
  let sending = false;
  let mine = readMine();
  let pollTimer = null;
  let pollDelay = POLL_MS;
  let pollUntil = 0;

  const enc = encodeURIComponent;
  const address = (path, query = {}) => {
    const target = new URL(path, base);
    for (const [name, value] of Object.entries(query)) target.searchParams.set(name, value);
    return target.href;
  };

  // An element with attributes (all set as strings, never parsed) and children (nodes or text).
  const el = (tag, attributes = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
    return node;
  };

  const getJSON = async (target) => {
    const response = await fetch(target, FETCH);
    if (!response.ok) throw new Error(`Saring answered ${response.status}`);
    return response.json();
  };

  function readMine() {
    try {
      const kept = JSON.parse(localStorage.getItem(STORE) || "[]");
      return Array.isArray(kept) ? kept.filter((entry) => entry && typeof entry.id === "string") : [];
    } catch {
      return []; // storage blocked: the note lasts as long as the page
    }
  }

  const saveMine = () => {
    mine = mine.slice(-KEPT);
    try {
      localStorage.setItem(STORE, JSON.stringify(mine));
    } catch {
      /* storage blocked or full */
    }
  };

  // "27 November 2025 pukul 15.16 WIB": Jakarta time, as the article page writes it.
  const when = (iso) => {
    const moment = new Date(String(iso).replace(/(\.\d{3})\d+/, "$1"));
    if (Number.isNaN(moment.getTime())) return "";
    const local = new Date(moment.getTime() + 7 * 3600 * 1000);
    const pad = (number) => String(number).padStart(2, "0");
    const clock = `${pad(local.getUTCHours())}${words.time_separator}${pad(local.getUTCMinutes())}`;
    return `${local.getUTCDate()} ${words.months[local.getUTCMonth()]} ${local.getUTCFullYear()} ${words.at} ${clock} WIB`;
  };

  const link = (href, text, className) =>
    el("a", { class: className, href, rel: "nofollow ugc noopener", target: framed ? "_blank" : null }, text);

  // Plain text with its http(s) links made clickable; line breaks are kept by the stylesheet.
  const content = (value) => {
    const text = String(value);
    const box = el("div", { class: "comment-content" });
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      let href = match[0].replace(/[.,;:!?]+$/, "");
      if (href.endsWith(")") && !href.includes("(")) href = href.slice(0, -1);
      box.append(text.slice(last, match.index), link(href, href));
      last = match.index + href.length;
    }
    box.append(text.slice(last));
    return box;
  };

  const meta = (comment) =>
    el("header", { class: "comment-meta" },
      el("b", { class: "comment-author" },
        WEB.test(comment.author_url || "") ? link(comment.author_url, comment.author_name, "url") : comment.author_name),
      el("time", { class: "comment-date", datetime: comment.created_at }, when(comment.created_at)));

  const showComment = (comment, depth, placed) => {
    const reply = el("button", { type: "button", class: "reply-link" }, words.reply);
    reply.addEventListener("click", () => startReply(comment));
    const item = el("li", { class: `comment depth-${depth}`, id: `comment-${comment.id}` },
      el("article", { class: "comment-body" }, meta(comment), content(comment.content), reply));
    const children = [
      ...(comment.replies || []).map((child) => showComment(child, depth + 1, placed)),
      ...(placed.get(comment.id) || []).map((own) => showMine(own, depth + 1)),
    ];
    if (children.length) item.append(el("ol", { class: "children" }, children));
    return item;
  };

  const showMine = (entry, depth) => {
    const rejected = entry.status === "rejected";
    const waiting = !rejected && entry.status !== "approved"; // approved, but on a page not loaded
    const note = rejected || waiting ? el("p", { class: "moderation-note" }, rejected ? words.not_published : words.awaiting) : null;
    const state = rejected ? "is-rejected" : waiting ? "is-waiting" : "";
    return el("li", { class: `comment depth-${depth} is-mine ${state}`, id: `comment-${entry.id}` },
      el("article", { class: "comment-body" }, meta(entry), note, content(entry.content)));
  };

  // The thread, with the writer's own unpublished comments under the comment each replies to.
  const render = () => {
    const shown = new Set();
    const walk = (items) => items.forEach((comment) => { shown.add(comment.id); walk(comment.replies || []); });
    walk(comments);
    const placed = new Map();
    for (const entry of mine) {
      if (shown.has(entry.id)) continue;
      const key = shown.has(entry.parent_id) ? entry.parent_id : null;
      placed.set(key, [...(placed.get(key) || []), entry]);
    }
    const items = [...comments.map((comment) => showComment(comment, 1, placed)), ...(placed.get(null) || []).map((entry) => showMine(entry, 1))];
    list.replaceChildren(items.length ? el("ol", { class: "comment-list" }, items) : el("p", { class: "no-comments" }, words.no_comments));
  };

  const fetchPage = (page) =>
    getJSON(address(`api/v1/sites/${enc(options.site)}/articles/${enc(options.article)}/comments`, { page, per_page: PER_PAGE }));

  const loadThread = async () => {
    try {
      const loaded = [];
      for (let page = 1; page <= pages; page += 1) {
        const answer = await fetchPage(page);
        loaded.push(...answer.comments);
        more.hidden = !answer.next;
        if (!answer.next) break;
      }
      comments = loaded;
      render();
    } catch {
      list.replaceChildren(el("p", { class: "load-failed" }, words.load_failed));
    }
  };

  const loadMore = async () => {
    try {
      const answer = await fetchPage(pages + 1);
      pages += 1;
      comments = [...comments, ...answer.comments];
      more.hidden = !answer.next;
      render();
    } catch {
      /* the button stays; the reader may try again */
    }
  };

  // Ask, a little less often each time, whether the writer's comments are decided yet.
  const startPolling = () => {
    pollDelay = POLL_MS;
    pollUntil = Date.now() + POLL_FOR_MS;
    if (!pollTimer) schedulePoll();
  };

  const schedulePoll = () => {
    pollTimer = null;
    if (!mine.some((entry) => entry.status === "pending") || Date.now() > pollUntil) return;
    pollTimer = setTimeout(poll, pollDelay);
    pollDelay = Math.min(pollDelay * 1.2, POLL_MAX_MS);
  };

  const poll = async () => {
    let changed = false;
    for (const entry of mine.filter((own) => own.status === "pending")) {
      try {
        const response = await fetch(address(`widget/v1/comments/${enc(entry.id)}/status`, { receipt: entry.receipt }), FETCH);
        const status = response.status === 404 ? "gone" : response.ok ? (await response.json()).status : entry.status;
        changed = changed || status !== entry.status;
        entry.status = status;
      } catch {
        /* offline for a moment: ask again next time */
      }
    }
    if (changed) {
      mine = mine.filter((entry) => entry.status !== "gone" && entry.status !== "withdrawn");
      saveMine();
      await loadThread();
    }
    schedulePoll();
  };

  const field = (name, control) => {
    control.id = name;
    control.name = name;
    if (limits[name]) control.maxLength = limits[name];
    if (REQUIRED.has(name)) control.setAttribute("aria-required", "true");
    const star = REQUIRED.has(name) ? [" ", el("span", { class: "required", "aria-hidden": "true" }, "*")] : [];
    return el("div", { class: "field", id: `field-${name}` }, el("label", { for: name }, words[name], star), control);
  };

  const clearErrors = () => {
    summary.hidden = true;
    summary.replaceChildren();
    for (const name of FIELDS) {
      const wrapper = root.getElementById(`field-${name}`);
      wrapper.classList.remove("has-error");
      wrapper.querySelector(".field-error")?.remove();
      form.elements[name].removeAttribute("aria-invalid");
      form.elements[name].removeAttribute("aria-describedby");
    }
    form.elements.author_email.setAttribute("aria-describedby", "email-notes");
  };

  // The form's errors as the article page shows them: beside each field, a summary above.
  const showErrors = (message, fields = {}) => {
    clearErrors();
    const beside = FIELDS.filter((name) => fields[name]);
    const lines = Object.entries(fields).filter(([name]) => !FIELDS.includes(name)).map(([, text]) => text);
    if (beside.length) lines.unshift(words.form_has_errors);
    if (!lines.length) lines.push(message || words.not_sent);
    summary.replaceChildren(...lines.map((line) => el("p", {}, line)));
    summary.hidden = false;
    for (const name of beside) {
      const control = form.elements[name];
      root.getElementById(`field-${name}`).classList.add("has-error");
      control.after(el("p", { class: "field-error", id: `${name}-error` }, fields[name]));
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", `${name}-error`);
    }
    if (fields.parent_id) cancelReply();
    (beside.length ? form.elements[beside[0]] : summary).focus?.();
  };

  const startReply = (comment) => {
    replyTo = comment;
    title.replaceChildren(words.reply_to.replace("{name}", comment.author_name), " ", cancelButton());
    root.getElementById("respond").scrollIntoView({ block: "start", behavior: "smooth" });
    form.elements.content.focus({ preventScroll: true });
  };

  const cancelButton = () => {
    const button = el("button", { type: "button", class: "cancel-reply" }, words.cancel_reply);
    button.addEventListener("click", cancelReply);
    return el("small", {}, button);
  };

  function cancelReply() {
    replyTo = null;
    title.replaceChildren(words.leave_reply);
  }

  const pageDetails = () => {
    if (framed) return { article_url: options.articleUrl || null, article_title: options.articleTitle || null };
    const canonical = document.querySelector('link[rel="canonical"]');
    const heading = document.querySelector('meta[property="og:title"]');
    return {
      article_url: options.articleUrl || (canonical ? canonical.href : location.href.split("#")[0]),
      article_title: options.articleTitle || (heading ? heading.content : document.title) || null,
    };
  };

  const send = async (event) => {
    event.preventDefault();
    if (sending) return;
    const body = { article_id: options.article, parent_id: replyTo ? replyTo.id : null, ...pageDetails() };
    for (const name of FIELDS) body[name] = form.elements[name].value;
    body.honeypot = form.elements.website_url_confirm.value || null;
    sending = true;
    submit.disabled = true;
    submit.textContent = words.sending;
    try {
      const response = await fetch(address(`widget/v1/sites/${enc(options.site)}/comments`, { lang }), {
        ...FETCH,
        method: "POST",
        mode: "cors",
        headers: { "Content-Type": "application/json", "X-Saring-Key": options.key },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.status === 202) accepted(answer, body);
      else showErrors(answer.message, answer.fields || {});
    } catch {
      showErrors(words.not_sent);
    } finally {
      sending = false;
      submit.disabled = false;
      submit.textContent = words.submit;
    }
  };

  const accepted = (answer, body) => {
    mine.push({
      id: answer.id,
      receipt: answer.receipt,
      parent_id: body.parent_id,
      author_name: body.author_name.trim(),
      author_url: body.author_url.trim() || null,
      content: body.content,
      created_at: new Date().toISOString(),
      status: "pending",
    });
    saveMine();
    clearErrors();
    form.elements.content.value = "";
    cancelReply();
    render();
    root.getElementById(`comment-${answer.id}`)?.scrollIntoView({ block: "nearest" });
    announcer.textContent = words.awaiting;
    startPolling();
  };

  const build = () => {
    list = el("div", { class: "comment-area" });
    announcer = el("p", { class: "visually-hidden", role: "status" });
    more = el("button", { type: "button", class: "more-comments", hidden: true }, words.newer_comments);
    more.addEventListener("click", loadMore);
    title = el("h2", { id: "reply-title", class: "section-title" }, words.leave_reply);
    summary = el("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: true });
    submit = el("button", { type: "submit", class: "submit" }, words.submit);
    const trap = el("div", { class: "leave-empty", "aria-hidden": "true" },
      el("label", { for: "website_url_confirm" }, words.leave_empty),
      el("input", { type: "text", id: "website_url_confirm", name: "website_url_confirm", tabindex: "-1", autocomplete: "off" }));
    form = el("form", { class: "comment-form", novalidate: true },
      el("p", { class: "comment-notes", id: "email-notes" }, words.privacy_note),
      summary,
      field("content", el("textarea", { rows: "8" })),
      field("author_name", el("input", { type: "text", autocomplete: "name" })),
      field("author_email", el("input", { type: "email", autocomplete: "email", "aria-describedby": "email-notes" })),
      field("author_url", el("input", { type: "url", autocomplete: "url" })),
      trap,
      el("p", { class: "form-submit" }, submit));
    form.addEventListener("submit", send);
    return el("div", { class: "saring", lang, hidden: true },
      el("section", { id: "comments", class: "comments" }, el("h2", { class: "section-title" }, words.comments), list, more),
      el("section", { id: "respond", class: "respond" }, title, form, announcer),
      el("p", { class: "moderated-by" }, words.moderated_by));
  };

  const reportHeight = () => {
    const tell = () => window.parent.postMessage({ saring: "height", height: document.documentElement.scrollHeight }, "*");
    new ResizeObserver(tell).observe(document.documentElement);
  };

  const start = async () => {
    if (!options.site || !options.article || !options.key) {
      console.error("Saring: the widget's script tag needs data-site, data-article and data-key.");
      return;
    }
    let host = document.getElementById(options.target || "saring-comments");
    if (!host) {
      host = el("div", { id: "saring-comments" });
      script.after(host);
    }
    if (host.shadowRoot) return; // the script is on the page twice
    root = host.attachShadow({ mode: "open" });
    const thread = fetchPage(1).catch(() => null);
    try {
      ({ words, limits } = await getJSON(address("widget/v1/words", { lang })));
    } catch (error) {
      console.warn("Saring: the comments could not be loaded.", error);
      return;
    }
    const widget = build();
    const sheet = el("link", { rel: "stylesheet", href: address("static/widget.css") });
    const show = () => { widget.hidden = false; };
    sheet.addEventListener("load", show);
    sheet.addEventListener("error", show);
    root.append(sheet, widget);
    const first = await thread;
    if (first) {
      comments = first.comments;
      more.hidden = !first.next;
      render();
    } else {
      list.replaceChildren(el("p", { class: "load-failed" }, words.load_failed));
    }
    if (framed && window.parent !== window && "ResizeObserver" in window) reportHeight();
    if (mine.some((entry) => entry.status === "pending")) {
      pollUntil = Date.now() + POLL_FOR_MS;
      poll();
    }
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
