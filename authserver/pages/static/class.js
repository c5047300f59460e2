// The class view redraws itself: every second it asks /class/data, the
// class as JSON, and draws the rows and the refusals again. No framework:
// the page works without this script, drawn once by the server.
"use strict";
(function () {
  const rows = document.getElementById("class-rows");
  const refusals = document.getElementById("class-refusals");
  const joined = document.getElementById("class-joined");
  const joinState = document.getElementById("class-join-state");
  const status = document.getElementById("class-status");
  const empty = document.getElementById("class-empty");

  // el makes an element with text; text is never read as HTML.
  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  function cell(c) {
    const td = el("td", "·", "todo");
    td.dataset.milestone = c.milestone;
    if (c.done && c.refusal) {
      td.className = "refused";
      td.textContent = c.at + " · " + c.refusal + " (×" + c.count + ")";
    } else if (c.done) {
      td.className = "done";
      td.textContent = "✓ " + c.at;
    }
    return td;
  }

  function draw(data) {
    const body = [];
    for (const a of data.attendees) {
      const tr = el("tr");
      tr.dataset.user = a.id;
      const th = el("th", a.username);
      th.scope = "row";
      if (a.disabled) th.append(" ", el("span", "disabled", "off small"));
      tr.append(th);
      for (const c of a.cells) tr.append(cell(c));
      body.push(tr);
    }
    rows.replaceChildren(...body);
    refusals.replaceChildren(...data.refusals.map(function (r) {
      const li = el("li");
      li.append(el("strong", r.count + " ×"), " " + r.refusal);
      return li;
    }));
    joined.textContent = data.joined;
    joinState.textContent = data.join_open ? "open" : "closed";
    if (empty) empty.hidden = data.attendees.length > 0;
    status.textContent = "Updated " + new Date().toLocaleTimeString() + "; every second.";
  }

  async function refresh() {
    try {
      const resp = await fetch("/class/data", { credentials: "same-origin", cache: "no-store" });
      if (resp.ok) {
        draw(await resp.json());
      } else {
        status.textContent = "ImageHost answered " + resp.status + ": sign in again as an admin.";
      }
    } catch (e) {
      status.textContent = "ImageHost cannot be reached; trying again.";
    }
    setTimeout(refresh, 1000);
  }
  refresh();
})();
