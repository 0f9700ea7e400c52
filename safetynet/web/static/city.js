/* City overview: totals, districts and associations (worst first) and the response curve, kept
   live from the campaign's server-sent events. Bands repeat the server's (city_views.LOW/GOOD),
   always with a word and an icon beside the colour. An ended campaign is not live; an expired
   login stops the updates and links to the login (retrying cannot help). */
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || main.dataset.page !== "city") { return; }
  document.documentElement.classList.add("js");
  var cid = main.dataset.campaign;
  var bands = JSON.parse(main.dataset.bands || "{}");
  var LOW = parseFloat(main.dataset.low || "0.5"), GOOD = parseFloat(main.dataset.good || "0.8");
  var ANSWERED = ["safe", "need_help", "confirmed_in_person"];
  var live = document.querySelector("[data-live]");  // none for a campaign that has ended
  var states = JSON.parse(main.dataset.states || "{}");
  var FINISHED = { closed: 1, cancelled: 1 };
  var streamUrl = "/api/campaigns/" + cid + "/events?doorknock=1";  // the door-knock column's counts too
  var es = null;
  var lastCurve = Date.now();

  // the band of the percent shown ("80%" is always good), as the server's city_views.band
  function band(rate) { var p = Math.floor(rate * 100 + 1e-6); return p < LOW * 100 ? "low" : (p >= GOOD * 100 ? "good" : "mid"); }
  function pct(r) { return Math.floor(r * 100 + 1e-6) + "%"; }  // rounded down: 100% is everyone (domain/shares.py)
  function setLive(on) {
    if (!live) { return; }
    live.textContent = on ? main.dataset.liveOn : main.dataset.liveOff;
    live.classList.toggle("on", on);
  }
  var WAITING = { pending_approval: 1, draft: 1 };
  function updateState(ev) {
    // a campaign shown as waiting (no counts, no tables) that started meanwhile: the page it has now
    if (ev.campaign && !WAITING[ev.campaign.state] && document.querySelector("[data-waiting]")) {
      window.location.reload();
      return;
    }
    var state = document.querySelector("p.campaign [data-campaign-state]");  // not the list of earlier ones
    if (state && ev.campaign && states[ev.campaign.state] && state.textContent !== states[ev.campaign.state]) {
      state.textContent = states[ev.campaign.state];  // closed or cancelled while the page is open
      state.className = "badge st-" + ev.campaign.state;
    }
    if (live && ev.campaign && FINISHED[ev.campaign.state]) { live.remove(); live = null; }
    // a drill paused by a real event that started, or resumed as it ended, while the page is open
    var paused = document.querySelector("p.campaign [data-campaign-paused]");
    if (paused && ev.campaign && "paused" in ev.campaign) {
      paused.hidden = !(ev.campaign.paused && ev.campaign.state === "running");
    }
  }
  function loginExpired() { window.SafetyNetLive.expired(main.dataset.msgExpiredLive, es, live); }  // live.js
  function paintRow(tr, households, answered, help, doorknock) {
    var rate = households ? answered / households : 0, b = band(rate);
    tr.dataset.households = households; tr.dataset.answered = answered; tr.dataset.help = help;
    tr.dataset.rate = rate;
    if (doorknock !== undefined) {  // an event without them keeps the last known
      tr.dataset.doorknock = doorknock;
      tr.querySelector("[data-doorknock]").textContent = doorknock;
    }
    tr.className = "band-" + b;
    tr.querySelector("[data-hh]").textContent = households;
    tr.querySelector("[data-rate-text]").textContent = bands[b] + " " + pct(rate);
    tr.querySelector("[data-rate-bar]").style.width = (rate * 100).toFixed(1) + "%";
    tr.querySelector("[data-help]").textContent = help;
  }
  function sortBody(body) {
    var rows = Array.prototype.slice.call(body.children);
    rows.sort(function (a, b) {
      var d = parseFloat(a.dataset.rate) - parseFloat(b.dataset.rate);
      return d !== 0 ? d : (a.textContent < b.textContent ? -1 : 1);
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function recomputeDistricts() {
    var sums = {};
    document.querySelectorAll("#associations tbody tr").forEach(function (tr) {
      var d = tr.dataset.district, s = sums[d] || (sums[d] = { h: 0, a: 0, help: 0, dk: 0 });
      s.h += +tr.dataset.households; s.a += +tr.dataset.answered; s.help += +tr.dataset.help;
      s.dk += +tr.dataset.doorknock;
    });
    document.querySelectorAll("#districts tbody tr").forEach(function (tr) {
      var s = sums[tr.dataset.district];
      if (s) { paintRow(tr, s.h, s.a, s.help, s.dk); }
    });
  }
  function updateTotals(ev) {
    var answered = 0;
    ANSWERED.forEach(function (k) { answered += ev.status[k] || 0; });
    document.querySelectorAll("[data-count]").forEach(function (el) { el.textContent = ev.status[el.dataset.count] || 0; });
    var set = function (sel, v) { var el = document.querySelector(sel); if (el) { el.textContent = v; } };
    set("[data-answered]", answered); set("[data-households]", ev.households);
    set("[data-rate]", pct(ev.answered_rate)); set("[data-help-total]", ev.need_help_open);
  }
  function refreshCurve() {
    lastCurve = Date.now();
    fetch("/city/curve?campaign=" + cid, { credentials: "same-origin" }).then(function (r) {
      if (window.SafetyNetLive.isLoginForm(r)) { throw new Error("401"); }
      if (!r.ok) { throw new Error(String(r.status)); }
      return r.text();
    }).then(function (svg) {
      var fig = document.getElementById("curve");
      if (fig) { fig.innerHTML = svg; }
    }).catch(function (err) { if (err.message === "401") { loginExpired(); } });
  }
  function onEvent(ev) {
    updateState(ev);
    updateTotals(ev);
    var moved = false, id;
    for (id in ev.associations) {
      var tr = document.querySelector('#associations tr[data-aid="' + id + '"]');
      var a = ev.associations[id];
      if (!tr) { continue; }
      var answered = 0;
      ANSWERED.forEach(function (k) { answered += a.status[k] || 0; });
      paintRow(tr, a.households, answered, a.need_help_open, a.doorknock);
      moved = true;
    }
    if (moved) {
      recomputeDistricts();
      document.querySelectorAll("table.city tbody").forEach(sortBody);
    }
    if (Date.now() - lastCurve > 10000) { refreshCurve(); }
  }
  document.querySelectorAll("table.city tbody tr").forEach(function (tr) {
    if (!tr.dataset.rate) {
      tr.dataset.rate = tr.dataset.households > 0 ? tr.dataset.answered / tr.dataset.households : 0;
    }
  });
  if (window.EventSource && cid) {
    es = window.SafetyNetLive.stream(streamUrl, {
      live: setLive, stats: onEvent,
      closed: function () { window.SafetyNetLive.whyClosed(streamUrl, loginExpired); }
    });
  }
  setInterval(refreshCurve, 60000);
})();
