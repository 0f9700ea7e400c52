/* Association dashboard and door-knock list: live counts and statuses over server-sent events,
   household filters, one-tap "confirmed in person" and "handled" (each with an undo that stays for
   a while). When the login has expired (an answer 401), the page says so and links to the login
   rather than asking to try again. No framework, no inline code
   (the CSP allows only same-origin scripts). EventSource reconnects by itself after a drop and
   sends Last-Event-ID, so the server replays what was missed. */
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main) { return; }
  document.documentElement.classList.add("js");
  document.addEventListener("click", function (e) {
    if (e.target.closest && e.target.closest("[data-print]")) { window.print(); }
  });
  var page = main.dataset.page;
  if (page !== "association" && page !== "doorknock") { return; }

  var cid = main.dataset.campaign, aid = main.dataset.association;
  var labels = JSON.parse(main.dataset.labels || "{}");
  var states = JSON.parse(main.dataset.states || "{}");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";
  var ANSWERED = { safe: 1, need_help: 1, confirmed_in_person: 1 };
  var rids = {};          // household id -> newest reply id applied (older news is ignored)
  var helpOpen = null;    // last need-help count seen
  var escalatedAt;        // when the latest help request seen was escalated (undefined: no event yet)
  var lastRefresh = 0;
  var live = document.querySelector("[data-live]");  // none for a campaign that has ended
  var flashEl = document.querySelector("[data-flash]");
  var FINISHED = { closed: 1, cancelled: 1 };
  var es = null;          // the live stream
  // the door-knock list asks for its association's count on the list too (what /city's column counts)
  var streamUrl = "/api/campaigns/" + cid + "/events?association=" + aid + "&since=" + (main.dataset.since || "") +
    (page === "doorknock" ? "&doorknock=1" : "");

  function setLive(on) {
    if (on && flashEl && flashEl.textContent === main.dataset.msgFailed) { flash(""); }
    if (!live) { return; }
    live.textContent = on ? main.dataset.liveOn : main.dataset.liveOff;
    live.classList.toggle("on", on);
  }
  function flash(text) { if (flashEl) { flashEl.textContent = text; } }

  // -- an expired login (live.js) ------------------------------------------------------------
  function loginExpired(text, fromTap) {
    var notice = window.SafetyNetLive.expired(text, es, live);
    flash("");
    if (fromTap && notice.scrollIntoView) { notice.scrollIntoView({ block: "center" }); }
  }
  // What a failed tap says: a 401 is no reason to try again. Said beside the button too, naming the
  // household (QA: offline, the only message was at the top of the page, 4,000 px away, and stayed
  // after the network came back), until a tap there is saved.
  function failed(err, b, name) {
    if (err && err.message === "401") { loginExpired(main.dataset.msgExpired, true); return; }
    flash(main.dataset.msgFailed);
    var host = b ? (b.closest("td") || b.parentNode) : null;
    if (!host) { return; }
    var note = host.querySelector("[data-tap-failed]");
    if (!note) {
      note = document.createElement("span");
      note.className = "tap-failed";
      note.setAttribute("role", "alert");
      note.dataset.tapFailed = "";
      host.appendChild(note);
    }
    note.textContent = words(main.dataset.msgFailedFor, name || "");
  }
  function saved(b) {
    var host = b.closest("td") || b.parentNode;
    var note = host ? host.querySelector("[data-tap-failed]") : null;
    if (note) { note.remove(); }
    if (flashEl && flashEl.textContent === main.dataset.msgFailed) { flash(""); }
  }
  function pct(r) { return Math.floor(r * 100 + 1e-6) + "%"; }  // rounded down: 100% is everyone (domain/shares.py)

  // -- filters --------------------------------------------------------------------------------
  var filterForm = document.querySelector("[data-filters]");
  function currentFilter() {
    if (!filterForm) { return { kind: "all", group: "" }; }
    var checked = filterForm.querySelector('input[name="filter"]:checked');
    var sel = filterForm.querySelector('select[name="group"]');
    return { kind: checked ? checked.value : "all", group: sel ? sel.value : "" };
  }
  function keeps(tr, f) {
    var s = tr.dataset.status;
    if (f.group && tr.dataset.group !== f.group) { return false; }
    if (f.kind === "noanswer") { return !ANSWERED[s]; }
    if (f.kind === "help") { return s === "need_help"; }
    if (f.kind === "vulnerable") { return tr.dataset.vuln === "1"; }
    return true;
  }
  function applyFilter() {
    if (page === "doorknock") { return; }
    var f = currentFilter();
    document.querySelectorAll("#hh-rows tr").forEach(function (tr) { tr.hidden = !keeps(tr, f) && !tr.classList.contains("kept"); });
  }
  if (filterForm) {
    filterForm.addEventListener("change", function () {
      applyFilter();
      var f = currentFilter(), q = new URLSearchParams(location.search);
      q.set("filter", f.kind); q.set("group", f.group);
      history.replaceState(null, "", location.pathname + "?" + q.toString());
    });
    filterForm.addEventListener("submit", function (e) { e.preventDefault(); applyFilter(); });
  }

  // -- statuses -------------------------------------------------------------------------------
  // -- rows that move under a finger ----------------------------------------------------------
  // Another person's change hides or shows rows, and the rows below jump: a tap aimed at one
  // household would land on the next. Such a row keeps its place (its new status shown, dimmed, its
  // buttons hidden but still taking their room) while the page is being touched or scrolled, and
  // while it is in sight: a head may read a row for a while before tapping. It goes once the hand
  // has been still for STILL_MS and the row is out of sight (rows above the screen go without
  // moving what is on it: the browser anchors the scroll). This person's own taps apply at once.
  var STILL_MS = 1500, touchedAt = 0, settleTimer = null, settleQueue = {}, rowsWaiting = false;
  // pointermove: a mouse on its way to a button is a hand about to tap, as much as a finger down
  ["pointerdown", "pointermove", "touchstart", "wheel", "scroll", "keydown"].forEach(function (type) {
    document.addEventListener(type, function () {
      touchedAt = Date.now();
      if (rowsWaiting && type === "scroll") { whenStill("rows", placeSettling); }  // scrolled out of sight?
    }, { capture: true, passive: true });
  });
  function still() { return Date.now() - touchedAt >= STILL_MS; }
  function whenStill(key, fn) {
    if (still()) { fn(); return; }
    settleQueue[key] = fn;
    if (settleTimer === null) { settleTimer = setTimeout(settle, STILL_MS); }
  }
  function settle() {
    if (!still()) { settleTimer = setTimeout(settle, STILL_MS - (Date.now() - touchedAt)); return; }
    settleTimer = null;
    var queued = settleQueue;
    settleQueue = {};
    Object.keys(queued).forEach(function (k) { queued[k](); });
  }
  function placeRow(tr) {
    tr.classList.remove("settling");
    if (page === "doorknock") { markVisited(tr, tr.dataset.status); countDoorknock(); }
    else { tr.hidden = !keeps(tr, currentFilter()) && !tr.classList.contains("kept"); }
  }
  // whether hiding or showing the row would move what is on the screen
  function inSight(tr) {
    var h = window.innerHeight || document.documentElement.clientHeight, r;
    if (!tr.hidden) { r = tr.getBoundingClientRect(); return r.bottom > 0 && r.top < h; }
    var before = tr.previousElementSibling;  // a hidden row would show right after it
    while (before && before.hidden) { before = before.previousElementSibling; }
    r = (before || tr.parentNode).getBoundingClientRect();
    var at = before ? r.bottom : r.top;
    return at > 0 && at < h;
  }
  // an answered row in sight waits there; one to act on again (an undo elsewhere) takes its buttons back
  function holds(tr) { return !!ANSWERED[tr.dataset.status] && inSight(tr); }
  function placeSettling() {
    rowsWaiting = false;
    document.querySelectorAll("tr.settling").forEach(function (tr) {
      if (holds(tr)) { rowsWaiting = true; } else { placeRow(tr); }
    });
  }
  function setStatus(tr, status, byOthers) {
    var done = tr.querySelector("[data-done]");
    // who confirmed it, and its 取り消す, no longer stand once the status moved on (undone, or refreshed)
    if (done && status !== "confirmed_in_person") { done.remove(); }
    tr.dataset.status = status;
    var st = tr.querySelector(".st .status");
    if (st) { st.className = "status s-" + status; st.textContent = labels[status] || status; }
    tr.classList.remove("changed"); void tr.offsetWidth; tr.classList.add("changed");
    if (byOthers && (!still() || holds(tr))) {
      tr.classList.add("settling");
      if (page === "doorknock") { countDoorknock(); }  // the count moves nothing: at once
      rowsWaiting = true;
      whenStill("rows", placeSettling);
      return;
    }
    placeRow(tr);
  }
  // The door-knock list: a household confirmed in person (here or by another head) stays in its
  // place ticked, so the walker keeps their bearings and its undo line; one that answered by itself
  // leaves the list.
  function markVisited(tr, status) {
    var done = status === "confirmed_in_person", box = tr.querySelector(".tick .box");
    tr.classList.toggle("done", done);
    if (box) { box.textContent = done ? "\u2611" : "\u2610"; }  // ☑ / ☐
    tr.hidden = !!ANSWERED[status] && !done;
  }
  // households still to visit, by status (a row answered since may still stand in place: settling);
  // `listed`: only those the ladder's last step put on the list
  function todoIn(root, listed) {
    var n = 0;
    root.querySelectorAll("table.dk tbody tr").forEach(function (tr) {
      if (!ANSWERED[tr.dataset.status] && (!listed || tr.dataset.listed)) { n += 1; }
    });
    return n;
  }
  // "2026-12-08 00:05", Japan time, as the server writes a staff page's times (domain.japan_time.date_time)
  function japanTime(ms) {
    var d = new Date(ms + 9 * 3600 * 1000), two = function (n) { return (n < 10 ? "0" : "") + n; };
    return d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + " "
      + two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
  }
  function countDoorknock() {
    var el = document.querySelector("[data-dk-count]"), onList = document.querySelector("[data-dk-listed]");
    var at = document.querySelector("[data-dk-time]"), before = el ? el.textContent + "/" + (onList ? onList.textContent : "") : "";
    if (el) { el.textContent = todoIn(document); }
    if (onList) { onList.textContent = todoIn(document, true); }
    // the figures are as of now once they moved: a list read at 23:10 and kept live said 「23:10 時点で」
    // over figures of 23:40 (and printed so)
    if (at && el && before !== el.textContent + "/" + (onList ? onList.textContent : "")) { at.textContent = japanTime(Date.now()); }
    document.querySelectorAll("section.dk-group").forEach(function (sec) {
      var c = sec.querySelector("[data-group-count]");
      if (c) { c.textContent = todoIn(sec); }
      sec.hidden = !sec.querySelector("tbody tr:not([hidden])");
    });
  }
  function applyChange(c) {
    var hh = c[0], status = c[2], rid = c[3];
    if ((rids[hh] || 0) > rid) { return; }
    rids[hh] = rid;
    document.querySelectorAll('tr[data-hh="' + hh + '"]').forEach(function (tr) {
      if (tr.dataset.status !== status) { setStatus(tr, status, true); }
    });
  }
  function updateState(ev) {
    var state = document.querySelector("[data-campaign-state]");
    if (state && ev.campaign && states[ev.campaign.state] && state.textContent !== states[ev.campaign.state]) {
      state.textContent = states[ev.campaign.state];  // closed or cancelled while the page is open
      state.className = "badge st-" + ev.campaign.state;
    }
    // an ended campaign is not "live" (as the page says when loaded after the end)
    if (live && ev.campaign && FINISHED[ev.campaign.state]) { live.remove(); live = null; }
    showPaused(ev);
  }
  // a drill paused by a real event that started, or resumed as it ended, while the page is open
  function showPaused(ev) {
    var paused = document.querySelector("p.campaign [data-campaign-paused]");
    if (paused && ev.campaign && "paused" in ev.campaign) {
      paused.hidden = !(ev.campaign.paused && ev.campaign.state === "running");
    }
  }
  function updateCounts(ev) {
    updateState(ev);
    var st = ev.status, answered = 0, k;
    for (k in ANSWERED) { answered += st[k] || 0; }
    document.querySelectorAll("[data-count]").forEach(function (el) { el.textContent = st[el.dataset.count] || 0; });
    document.querySelectorAll("[data-seg]").forEach(function (el) {
      el.style.width = (ev.households ? (st[el.dataset.seg] || 0) * 100 / ev.households : 0).toFixed(2) + "%";
    });
    var a = document.querySelector("[data-answered]"); if (a) { a.textContent = answered; }
    var h = document.querySelector("[data-households]"); if (h) { h.textContent = ev.households; }
    var r = document.querySelector("[data-rate]"); if (r) { r.textContent = pct(ev.answered_rate); }
  }

  // -- fragments ------------------------------------------------------------------------------
  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { Accept: "text/html" } }).then(function (r) {
      if (window.SafetyNetLive.isLoginForm(r)) { throw new Error("401"); }
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text().then(function (text) { return { text: text, headers: r.headers }; });
    });
  }
  function refreshHelp() {
    var box = document.getElementById("help-items");
    if (!box) { return; }
    get("/a/" + aid + "/help?campaign=" + cid).then(function (res) {
      box.innerHTML = res.text;
      var c = document.querySelector("[data-help-count]");
      if (c) { c.textContent = res.headers.get("X-Help-Count") || c.textContent; }
      // hidden while empty, but not while a 対応済み's undo line is in it (the last card marked handled)
      var panel = document.querySelector("[data-help-panel]");
      if (panel) { panel.hidden = !box.querySelector(".help-card") && !panel.querySelector("[data-help-undo] li"); }
    }).catch(quietly);
  }
  function refreshNotes() {
    var box = document.getElementById("notes-panel");
    if (!box) { return; }
    get("/a/" + aid + "/notes?campaign=" + cid).then(function (res) { box.innerHTML = res.text; }).catch(quietly);
  }
  // a background refresh that failed waits for the next event, unless the login has expired
  function quietly(err) {
    if (err && err.message === "401") { loginExpired(main.dataset.msgExpiredLive, false); }
  }
  // The rows' statuses and in-person lines ("who confirmed it"), patched in place (keeps focus and
  // scroll): of the households `hhs` (those just confirmed in person: a 300-household table is not read
  // again for each), or of all of them (`hhs` absent: a reset, or a quiet while). The patch names no
  // household (no view of their details to audit, /a/{id}/statuses): the rows here have the names. A
  // household it brings that the page lacks is read whole, as the page's view of it (audited).
  function refreshRows(hhs) {
    var body = document.getElementById("hh-rows");
    if (!body) { return; }
    if (!hhs) { lastRefresh = Date.now(); }
    var q = hhs ? hhs.map(function (hh) { return "&hh=" + encodeURIComponent(hh); }).join("") : "";
    get("/a/" + aid + "/statuses?campaign=" + cid + q).then(function (res) {
      if (patchRows(body, res.text, false)) { readRows(body); }
    }).catch(quietly);
  }
  function readRows(body) {
    get("/a/" + aid + "/households?campaign=" + cid).then(function (res) { patchRows(body, res.text, true); }).catch(quietly);
  }
  // whether `html` had a household the page lacks (added when `whole`, rows with their details)
  function patchRows(body, html, whole) {
    var tpl = document.createElement("template"), missing = false;
    tpl.innerHTML = "<table><tbody>" + html + "</tbody></table>";
    tpl.content.querySelectorAll("tr[data-hh]").forEach(function (fresh) {
      var tr = body.querySelector('tr[data-hh="' + fresh.dataset.hh + '"]');
      if (!tr) {
        missing = true;
        if (whole) { body.appendChild(fresh); fresh.hidden = !keeps(fresh, currentFilter()); }
        return;
      }
      if (tr.dataset.status !== fresh.dataset.status) { setStatus(tr, fresh.dataset.status, true); }
      // who confirmed it in person (another deputy, just now), as a reload would show it
      var line = fresh.querySelector("[data-done]"), had = tr.querySelector("[data-done]"),
          cell = tr.querySelector("td.st");
      if (line && !whole) { named(line, rowName(tr)); }
      if (line && cell && tr.dataset.status === "confirmed_in_person" && (!had || had.outerHTML !== line.outerHTML)) {
        if (had) { had.remove(); }
        cell.appendChild(line);
      }
    });
    return missing;
  }
  // a patch's undo names the household by its number: the name this row shows takes its place
  function named(line, name) {
    line.querySelectorAll("button[data-undo]").forEach(function (b) {
      if (!name || b.dataset.name === name) { return; }
      var label = b.getAttribute("aria-label") || "";
      b.setAttribute("aria-label", label.split(b.dataset.name).join(name));
      b.dataset.name = name;
    });
  }

  // -- the door-knock list read again --------------------------------------------------------
  // The list holds the households with no answer when it was read. One may come back to it: a visit
  // undone elsewhere (another deputy, the head's undo on another phone), a household enrolled late;
  // and the ladder's last step puts some on the list (the figure /city shows). Then the list is read
  // again and the rows it lacks are added in their places, once the hand is still (review: an undone
  // visit stayed off the walker's list, so nobody walked there).
  var cut = {};           // every household of the list's 班, answered or not
  var knownHouseholds = parseInt(main.dataset.dkHouseholds, 10) || 0;
  var knownKnock = parseInt(main.dataset.dkKnock, 10) || 0;
  function readCut(box) {
    cut = {};
    JSON.parse((box && box.dataset.dkCut) || "[]").forEach(function (hh) { cut[hh] = 1; });
  }
  function dkRow(root, hh) { return root.querySelector('table.dk tr[data-hh="' + hh + '"]'); }
  // whether the change `c` brings back a household of this list whose row the page lacks
  function comesBack(c) { return !!cut[c[0]] && !ANSWERED[c[2]] && !dkRow(document, c[0]); }
  function readDoorknock() {
    var q = new URLSearchParams(location.search);
    q.set("campaign", cid);
    get("/a/" + aid + "/doorknock/rows?" + q.toString()).then(function (res) {
      mergeDoorknock(res.text, parseInt(res.headers.get("X-Since"), 10) || 0);
    }).catch(quietly);
  }
  function sectionOf(list, group) {
    var found = null;
    list.querySelectorAll("section.dk-group").forEach(function (sec) { if (sec.dataset.group === group) { found = sec; } });
    return found;
  }
  // `since`: the reply cursor the rows were read after; news of a household newer than it (the stream's,
  // or this person's own tap) stands over what the rows say
  function mergeDoorknock(html, since) {
    var list = document.querySelector("[data-dk-list]"), tpl = document.createElement("template");
    if (!list) { return; }
    tpl.innerHTML = html;
    var fresh = tpl.content.querySelector("[data-dk-list]");
    if (!fresh) { return; }
    readCut(fresh);
    var lastSec = null;
    Array.prototype.slice.call(fresh.querySelectorAll("section.dk-group")).forEach(function (freshSec) {
      var sec = sectionOf(list, freshSec.dataset.group);
      if (!sec) {  // a 班 the page had no row of: its table whole, after the 班 before it in walking order
        list.insertBefore(freshSec, lastSec ? lastSec.nextSibling : list.firstChild);
        lastSec = freshSec;
        return;
      }
      // from the last: a row the page lacks goes before the next one it has (the answered, hidden, stay put)
      var body = sec.querySelector("tbody"), nextRow = null;
      Array.prototype.slice.call(freshSec.querySelectorAll("tbody tr[data-hh]")).reverse().forEach(function (tr) {
        var had = dkRow(sec, tr.dataset.hh), newer = (rids[tr.dataset.hh] || 0) > since;
        if (had) {
          if (tr.dataset.listed) { had.dataset.listed = "1"; } else { delete had.dataset.listed; }
          if (!newer && had.dataset.status !== tr.dataset.status) { setStatus(had, tr.dataset.status, true); }
          nextRow = had;
          return;
        }
        if (newer) { return; }  // it answered after the rows were read
        body.insertBefore(tr, nextRow);  // in walking order
        nextRow = tr;
      });
      lastSec = sec;
    });
    countDoorknock();
  }
  function onDoorknockEvent(ev) {
    var again = !!ev.reset;
    (ev.changed || []).forEach(function (c) { if (comesBack(c)) { again = true; } });
    // a household enrolled late, or more put on the list by the ladder's step (no household's answer says so)
    if (ev.households > knownHouseholds) { again = true; }
    if (typeof ev.doorknock === "number" && ev.doorknock > knownKnock) { again = true; }
    knownHouseholds = ev.households;
    if (typeof ev.doorknock === "number") { knownKnock = ev.doorknock; }
    if (again) { whenStill("dkrows", readDoorknock); }  // rows added move the ones below: not under a finger
  }

  // -- the live stream ------------------------------------------------------------------------
  function onEvent(ev) {
    if (page === "doorknock") { onDoorknockEvent(ev); }
    if (page === "association") { updateCounts(ev); }
    else { updateState(ev); }
    var helpMoved = false, notesMoved = !!ev.reset;
    // a household with a card that answers again (無事 after 助けが必要) changes no open count, but
    // its card must say so; a note came (c[4]), or a household in the notes panel answered again (its
    // status there, or a card of its own now)
    (ev.changed || []).forEach(function (c) {
      applyChange(c);
      if (c[2] === "need_help" || document.querySelector('.help-card[data-hh="' + c[0] + '"]')) { helpMoved = true; }
      if (c[4] || document.querySelector('#notes-panel [data-hh="' + c[0] + '"]')) { notesMoved = true; }
    });
    // a confirmation in person: its row says by whom once its line is read (those rows alone)
    var confirmed = (ev.changed || []).filter(function (c) { return c[2] === "confirmed_in_person"; })
      .map(function (c) { return c[0]; });
    if (page === "association") {
      // past the households one patch asks for (dashboards.MAX_PATCHED), all of them
      if (ev.reset || confirmed.length > 100) { refreshRows(); } else if (confirmed.length) { refreshRows(confirmed); }
    }
    // the help cards on both pages: a household asking for help during the walk leaves the door-knock
    // list's rows (it answered) and must show on that page too (review)
    if (helpOpen !== null && ev.need_help_open !== helpOpen) { helpMoved = true; }
    helpOpen = ev.need_help_open;
    // an escalation changes no count: its time does (the card's line 「…知らせました」)
    if (escalatedAt !== undefined && ev.escalated_at !== escalatedAt) { helpMoved = true; }
    escalatedAt = ev.escalated_at;
    if (helpMoved) { whenStill("help", refreshHelp); }  // the cards are replaced: not under a finger
    if (page === "association") {
      if (notesMoved) { whenStill("notes", refreshNotes); }  // as the cards
      // statuses that come from deliveries (sent, unreachable) are not in `changed`: catch up now and then
      if (!ev.full && !(ev.changed || []).length && Date.now() - lastRefresh > 30000) { refreshRows(); }
    }
  }
  if (window.EventSource && cid) {
    es = window.SafetyNetLive.stream(streamUrl, {
      live: setLive, stats: onEvent,
      closed: function () {
        window.SafetyNetLive.whyClosed(streamUrl, function () { loginExpired(main.dataset.msgExpiredLive, false); });
      }
    });
  }

  // -- one-tap actions ------------------------------------------------------------------------
  // A request stalled on a weak signal fails, and says so, instead of leaving the tap waiting for
  // minutes. A timer and AbortController rather than AbortSignal.timeout: that is iOS 16 and later, and a
  // head's older iPhone waited without end (the timer is also the page's clock, which tests can move).
  var TAP_WAIT_MS = 20000;
  function post(path, body) {
    var ctl = window.AbortController ? new AbortController() : null;
    var timer = ctl ? setTimeout(function () { ctl.abort(); }, TAP_WAIT_MS) : 0;
    return fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      signal: ctl ? ctl.signal : undefined
    }).then(function (r) {
      clearTimeout(timer);
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.json();
    }, function (err) { clearTimeout(timer); throw err; });
  }
  // A confirmation's line, with its undo button, stands in the row's own status cell for undoSeconds:
  // the door-knock row's list (data-row-undo), or one made in the dashboard's row. The dashboard's row
  // stays where it was while its line does ("kept"), marked confirmed, though the "no answer" filter or
  // a phone's fold would take it away: a mistaken tap is undone where it was made (review: on a phone
  // the row went and its undo showed far above, out of sight).
  var undoList = document.querySelector("[data-undo-list]");
  var undoMs = (parseInt(main.dataset.undoSeconds, 10) || 300) * 1000;
  function words(template, name, method) {
    // functions, not strings: a "$&" in a name is no replacement pattern
    return (template || "").replace("{name}", function () { return name; })
      .replace("{method}", function () { return method || ""; });
  }
  function rowName(tr) {
    var cell = tr.querySelector("td:nth-child(2)");
    return cell && cell.firstChild ? cell.firstChild.textContent.trim() : "";
  }
  function say(li, text, keepMs) {
    li.textContent = text;
    clearTimeout(li.undoTimer);
    li.undoTimer = setTimeout(function () { drop(li); }, keepMs);
  }
  function drop(li) {
    li.remove();
    if (li.gone) { li.gone(); }
  }
  // A line on top of `list`: what was done, and its undo button (`data`: what the button undoes).
  function undoLine(list, said, data, gone) {
    var li = document.createElement("li"), text = document.createElement("span"), b = document.createElement("button");
    text.textContent = said;
    b.type = "button"; b.className = "small";
    Object.keys(data).forEach(function (k) { b.dataset[k] = data[k]; });
    b.textContent = main.dataset.msgUndo;
    li.appendChild(text); li.appendChild(b);
    list.insertBefore(li, list.firstChild);
    li.gone = gone;
    li.undoTimer = setTimeout(function () { drop(li); }, undoMs);
  }
  // the dashboard row's own list for its confirmation's line, under its status
  function rowUndoList(tr) {
    var list = tr.querySelector("[data-row-undo]"), cell = tr.querySelector("td.st");
    if (list || page !== "association" || !cell) { return list; }
    list = document.createElement("ul");
    list.className = "undo-list";
    list.setAttribute("aria-live", "polite");
    list.dataset.rowUndo = "";
    cell.appendChild(list);
    return list;
  }
  // its line gone, a kept row goes as another's change does: once the hand is still and it is out of sight
  function release(tr) {
    if (!tr.classList.contains("kept") || tr.querySelector("[data-row-undo] li")) { return; }
    tr.classList.remove("kept");
    tr.classList.add("settling");
    rowsWaiting = true;
    whenStill("rows", placeSettling);
  }
  function offerUndo(tr, replyId, method) {
    var list = rowUndoList(tr) || undoList;
    if (!list || !replyId) { flash(main.dataset.msgSaved); return; }
    flash("");
    undoLine(list, words(main.dataset.msgConfirmed, rowName(tr), method),
             { undo: String(replyId), hh: tr.dataset.hh, name: rowName(tr) }, function () { release(tr); });
  }
  // `b`: a line's undo (just tapped) or a row's own (the server renders it after any reload, for the
  // viewer's own confirmation while it may still be taken back: data-done)
  function undo(b) {
    var li = b.closest("li"), done = li ? null : b.closest("[data-done]"), name = b.dataset.name;
    function tell(text) {  // a row's own undo leaves with what it undid: its words go to the page's line
      if (done) { done.remove(); flash(text); } else { say(li, text, 15000); }
    }
    post("/api/campaigns/" + cid + "/households/" + b.dataset.hh + "/undo", { reply_id: Number(b.dataset.undo) })
      .then(function (doc) {
        // this person's own act applies at once, even where the live stream brought the same news
        // first and left the row settling
        document.querySelectorAll('tr[data-hh="' + b.dataset.hh + '"]').forEach(function (tr) {
          setStatus(tr, doc.status);
        });
        tell(words(main.dataset.msgUndone, name));
      })
      .catch(function (err) {
        if (err.message === "409") {
          if (done) { b.remove(); flash(words(main.dataset.msgUndoRefused, name)); } else { say(li, words(main.dataset.msgUndoRefused, name), 15000); }
          return;
        }
        failed(err); b.disabled = false;
      });
  }
  // "handled" takes the card off the help list: a line above the list offers to put it back (a
  // household that needs help must not vanish with a wrong tap), kept for undoSeconds too.
  var helpUndoList = document.querySelector("[data-help-undo]");
  function cardName(card) {
    var h = card ? card.querySelector("h3") : null;
    return h && h.firstChild ? h.firstChild.textContent.replace(/^\s*⚠\s*/, "").trim() : "";
  }
  function offerReopen(hh, name) {
    if (!helpUndoList) { flash(main.dataset.msgSaved); return; }
    undoLine(helpUndoList, words(main.dataset.msgHandled, name), { reopen: hh, name: name });
  }
  function reopen(b) {
    var li = b.closest("li"), name = b.dataset.name;
    post("/api/campaigns/" + cid + "/households/" + b.dataset.reopen + "/reopen", {})
      .then(function (doc) {
        say(li, words(doc.already ? main.dataset.msgReopenAlready : main.dataset.msgReopened, name), 15000);
        refreshHelp();
      })
      .catch(function (err) {
        // marked handled again by someone else since this button was offered: theirs to take back
        if (err.message === "409") { say(li, words(main.dataset.msgReopenRefused, name), 15000); return; }
        failed(err); b.disabled = false;
      });
  }
  document.addEventListener("click", function (e) {
    var b = e.target.closest
      ? e.target.closest("button[data-confirm], button[data-handled], button[data-undo], button[data-reopen]") : null;
    if (!b || b.disabled) { return; }
    b.disabled = true;
    if (b.dataset.undo) {
      undo(b);
    } else if (b.dataset.reopen) {
      reopen(b);
    } else if (b.dataset.confirm) {
      var tr = b.closest("tr"), noteIn = tr.querySelector("[data-confirm-note]"), sent = { method: b.dataset.confirm };
      // an optional note typed before the tap goes with it (the common case stays one tap)
      if (noteIn && noteIn.value.trim()) { sent.note = noteIn.value.trim(); }
      // one key until it is saved: a tap again after an answer lost on a weak signal is the same
      // confirmation, not a second one whose undo would leave the first standing (review)
      b.dataset.key = b.dataset.key || (Date.now().toString(36) + Math.random().toString(36).slice(2));
      sent.key = b.dataset.key;
      post("/api/campaigns/" + cid + "/households/" + tr.dataset.hh + "/confirm", sent)
        .then(function (doc) {
          delete b.dataset.key;
          if (noteIn) { noteIn.value = ""; noteIn.closest("details").open = false; }
          if (doc.reply_id) { rids[tr.dataset.hh] = Math.max(rids[tr.dataset.hh] || 0, doc.reply_id); }
          if (page === "association" && doc.reply_id) { tr.classList.add("kept"); }  // with its undo, below
          saved(b); setStatus(tr, "confirmed_in_person"); offerUndo(tr, doc.reply_id, b.dataset.method);
        })
        .catch(function (err) { failed(err, b, rowName(tr)); })
        .then(function () { b.disabled = false; });
    } else {
      var card = b.closest("[data-hh]"), name = cardName(card);
      post("/api/campaigns/" + cid + "/households/" + b.dataset.handled + "/handled", {})
        .then(function (doc) {
          if (card) { card.remove(); }
          // handled by someone else already: theirs to take back, not this tap's
          if (doc.already) { flash(main.dataset.msgSaved); } else { offerReopen(b.dataset.handled, name); }
          refreshHelp();
        })
        .catch(function (err) { failed(err, b, name); b.disabled = false; });
    }
  });
  applyFilter();
  if (page === "doorknock") { readCut(document.querySelector("[data-dk-list]")); }
  countDoorknock();
})();
