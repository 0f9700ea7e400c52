/* SafetyNet service worker: shows the alert with two answer buttons and sends the answer without
   opening a page. A tap on the body opens the reply page. Showing the notification records "read"
   (never an answer). Payload: {title, body, url, token, actions: [{action, title}], pending: {safe,
   need_help}, campaign, drill, channel}; answers and "seen" say which channel carried the notification (`via`).

   After an earthquake the network is often down or jammed. A tap that cannot be sent is kept (IndexedDB)
   and sent when the phone is back online: by Background Sync where the browser has it, and whenever the
   worker wakes (a push, a tap, a new version of it). Its notification says so (`pending`, from the server's
   catalog), and is replaced by the server's "recorded" once it arrives. The same key on every try: counted
   once. A kept tap says how old it is (`age_ms`, by the phone's own clock): the server does not let a kept
   "safe" withdraw a call for help the household made since, elsewhere. */
"use strict";

var QUEUE_DB = "safetynet-answers";
var QUEUE = "answers";
var SYNC_TAG = "safetynet-answers";
var TRIES_NOW = 3; // taps sent at once: a jammed network may let the second or third through
var TRIES_WITHOUT_SYNC = 6; // no Background Sync (Safari): retries while the browser lets the worker run
var SEND_TIMEOUT_MS = 15000; // a jammed network can hold a request for minutes: keep the tap, try later

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim().then(function () { return flush(); }));
});

function tokenOf(d) {
  if (d.token) return d.token;
  var m = /\/r\/([A-Za-z0-9_-]+)/.exec(d.url || "");
  return m ? m[1] : "";
}

function replyPath(token, suffix) {
  return "/r/" + encodeURIComponent(token) + (suffix || "");
}

function noop() {}

// The browser renewed the subscription by itself (Firefox, an expiring one): the new one goes where the old
// was, or the old dies at the next push with no word to the household. (Chromium gives no old one here.)
self.addEventListener("pushsubscriptionchange", function (event) {
  var old = event.oldSubscription;
  if (!old) return;
  var renewed = event.newSubscription ? Promise.resolve(event.newSubscription)
    : self.registration.pushManager.subscribe(old.options);
  event.waitUntil(renewed.then(function (sub) {
    return fetch("/push/renew", {
      method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ old: old.toJSON(), "new": sub.toJSON() })
    });
  }).catch(noop));
});

self.addEventListener("push", function (event) {
  var d = {};
  try { d = event.data ? event.data.json() : {}; } catch (e) { d = { body: event.data ? event.data.text() : "" }; }
  var token = tokenOf(d);
  var options = {
    body: d.body || "",
    data: { url: d.url || "/", token: token, via: d.channel || "push", title: d.title || "", pending: d.pending || {} },
    requireInteraction: true,
    renotify: true,
    // one notification per household's question (a phone enrolled for two shows both: review), and one per
    // staff alert (each is another household's call for help: a shared tag replaced the one before)
    tag: token ? "safetynet-" + token : "safetynet-staff-" + Date.now() + "-" + Math.random()
  };
  // Staff alerts carry no token: no answer buttons, a tap opens the dashboard link.
  if (token && Array.isArray(d.actions)) {
    options.actions = d.actions.slice(0, 2).map(function (a) { return { action: a.action, title: a.title }; });
  }
  var shown = self.registration.showNotification(d.title || "安否確認 / Safety check", options);
  var seen = token
    ? fetch(replyPath(token, "/seen?via=" + encodeURIComponent(options.data.via)),
            { method: "POST", credentials: "omit" }).catch(noop)
    : Promise.resolve();
  // a push came through: so may the answers kept from before
  event.waitUntil(Promise.all([shown, seen, flush()]));
});

function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

function newKey() {
  // The same key on every retry: the server counts the answer once.
  return "sw" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

// -- the kept answers ---------------------------------------------------------------------------

function queueOp(mode, op) {
  return new Promise(function (resolve, reject) {
    var open = indexedDB.open(QUEUE_DB, 1);
    open.onupgradeneeded = function () { open.result.createObjectStore(QUEUE, { keyPath: "key" }); };
    open.onerror = function () { reject(open.error); };
    open.onblocked = function () { reject(new Error("the answers' store is blocked")); };
    open.onsuccess = function () {
      var db = open.result;
      try {
        var tx = db.transaction(QUEUE, mode);
        var req = op(tx.objectStore(QUEUE));
        tx.oncomplete = function () { db.close(); resolve(req.result); };
        tx.onerror = tx.onabort = function () { db.close(); reject(tx.error); };
      } catch (e) { // thrown here, it would leave the promise waiting for ever
        db.close();
        reject(e);
      }
    };
  });
}

// Each kept tap gets the next number, in the transaction that keeps it: the order tapped is not the
// phone's clock, which may be set back between two taps made without signal.
function keep(entry) {
  return queueOp("readwrite", function (s) {
    var all = s.getAll();
    all.onsuccess = function () {
      var last = 0;
      (all.result || []).forEach(function (e) { if (e.seq > last) last = e.seq; });
      entry.seq = last + 1;
      s.put(entry);
    };
    return all;
  });
}
function isKept(key) {
  return queueOp("readonly", function (s) { return s.count(key); }).then(function (n) { return n > 0; });
}
function forget(key) { return queueOp("readwrite", function (s) { return s.delete(key); }); }
function kept() {
  return queueOp("readonly", function (s) { return s.getAll(); }).then(function (all) {
    // in the order tapped: the last one stands (a tap kept by a worker before `seq` has none: first)
    return (all || []).sort(function (a, b) { return (a.seq || 0) - (b.seq || 0) || a.at - b.at; });
  });
}

// One try: {recorded: json}, {refused: status} (the link is over or the answer wrong: trying again
// cannot help), or {later: true} (offline, a server error, too many requests).
async function sendOnce(entry) {
  var stop = new AbortController();
  var timer = setTimeout(function () { stop.abort(); }, SEND_TIMEOUT_MS);
  try {
    var resp = await fetch(replyPath(entry.token, "/answer"), {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ status: entry.status, key: entry.key, via: entry.via,
                             age_ms: Math.max(0, Date.now() - entry.at) }),
      signal: stop.signal
    });
    if (resp.ok) return { recorded: await resp.json() };
    if (resp.status >= 500 || resp.status === 429 || resp.status === 408) return { later: true };
    return { refused: resp.status };
  } catch (e) {
    return { later: true }; // offline, or timed out (it may have arrived: the key counts it once)
  } finally {
    clearTimeout(timer);
  }
}

function answerTag(entry) { return "safetynet-answer-" + entry.token; }

function showRecorded(entry, res) {
  return self.registration.showNotification(res.message || "OK", {
    tag: answerTag(entry), data: { url: entry.url, token: entry.token, via: entry.via }
  });
}

function showPending(entry) {
  return self.registration.showNotification(entry.title || "安否確認 / Safety check", {
    body: entry.pending, tag: answerTag(entry), requireInteraction: true, renotify: true,
    data: { url: entry.url, token: entry.token, via: entry.via, kept: entry }
  });
}

function closeShown(entry) {
  return self.registration.getNotifications({ tag: answerTag(entry) }).then(function (list) {
    list.forEach(function (n) { n.close(); });
  });
}

var flushing = null;
var flushAgain = null;
// Every key the server refused while this worker runs: a tap refused by a flush another event started
// (the worker's activation, a sync) must still open the page that says why, not pass as sent.
var refusedKeys = {};

// Sends the kept answers, oldest first, until one cannot go yet; resolves to {left: how many are
// still kept, refused: {key: true} for those the server refused}.
// One flush at a time: a push and a sync waking the worker together must not send twice. A flush
// under way may have read the queue before the caller's tap: the caller gets the next one, which
// every caller meanwhile shares.
function flush() {
  if (!flushing) {
    flushing = flushKept().finally(function () { flushing = null; });
    return flushing;
  }
  if (!flushAgain) {
    flushAgain = flushing.catch(noop).then(function () { flushAgain = null; return flush(); });
  }
  return flushAgain;
}

async function flushKept() {
  var entries = await kept().catch(function () { return []; });
  var refused = {};
  for (var i = 0; i < entries.length; i++) {
    var entry = entries[i];
    var out = await sendOnce(entry);
    if (out.later) return { left: entries.length - i, refused: refused };
    await forget(entry.key).catch(noop);
    if (out.recorded) {
      await showRecorded(entry, out.recorded).catch(noop);
    } else {
      // the campaign is over or the link gone: nothing more to send. A call for help that did not
      // get through keeps its notification, which says to call 119
      refused[entry.key] = true;
      refusedKeys[entry.key] = true;
      if (entry.status !== "need_help") await closeShown(entry).catch(noop);
    }
  }
  return { left: 0, refused: refused };
}

function askForSync() {
  return self.registration.sync ? self.registration.sync.register(SYNC_TAG).then(function () { return true; }, function () { return false; })
                                : Promise.resolve(false);
}

// A tap on an answer button: kept first (the worker may be stopped at any moment), then sent behind
// the taps kept from before, in the order made: the last tap stands.
async function answerTap(d, status) {
  var entry = { key: newKey(), token: d.token, status: status, via: d.via, at: Date.now(), url: d.url,
                title: d.title || "", pending: (d.pending || {})[status] || "" };
  var stored = await keep(entry).then(function () { return true; }, function () { return false; });
  if (!stored) return answerUnkept(entry);
  for (var attempt = 0; attempt < TRIES_NOW; attempt++) {
    if (attempt > 0) await wait(1000 * attempt);
    var out = await flush();
    if (out.refused[entry.key] || refusedKeys[entry.key]) return openPage(entry.url); // let the resident see why on the page
    if (!(await isKept(entry.key).catch(function () { return false; }))) return; // sent: its words shown
    if (!self.navigator.onLine) break; // no network at all: no use trying again this second
  }
  if (!entry.pending) {
    // an alert sent before these words: the page, and nothing kept to land on top of what is answered there
    await forget(entry.key).catch(noop);
    return openPage(entry.url);
  }
  var synced = await askForSync();
  await showPending(entry);
  if (!synced) await retryWhileAwake();
}

// Without storage (a private window): as before the queue, a few tries, then the page.
async function answerUnkept(entry) {
  for (var attempt = 0; attempt < TRIES_NOW; attempt++) {
    if (attempt > 0) await wait(1000 * attempt);
    var out = await sendOnce(entry);
    if (out.recorded) return showRecorded(entry, out.recorded);
    if (out.refused || !self.navigator.onLine) break;
  }
  return openPage(entry.url);
}

async function retryWhileAwake() {
  for (var i = 1; i <= TRIES_WITHOUT_SYNC; i++) {
    await wait(5000 * i);
    if ((await flush()).left === 0) return;
  }
}

self.addEventListener("sync", function (event) {
  if (event.tag !== SYNC_TAG) return;
  // rejected: the browser tries again later (with a back-off), unless this was its last chance;
  // what is left then goes at the next push or tap
  event.waitUntil(flush().then(function (out) {
    if (out.left > 0 && !event.lastChance) throw new Error("answers still waiting for the network");
  }));
});

function openPage(url) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].url === url && "focus" in list[i]) return list[i].focus();
    }
    return self.clients.openWindow(url);
  });
}

self.addEventListener("notificationclick", function (event) {
  var n = event.notification;
  var d = n.data || {};
  n.close();
  if ((event.action === "safe" || event.action === "need_help") && d.token) {
    event.waitUntil(answerTap(d, event.action));
    return;
  }
  if (d.kept) {
    // "not sent yet", tapped: try now; still offline, it stays on the screen
    event.waitUntil(flush().then(function () {
      return kept().then(function (left) {
        var still = left.some(function (e) { return e.key === d.kept.key; });
        return still ? showPending(d.kept) : undefined;
      }, noop);
    }));
    return;
  }
  event.waitUntil(openPage(d.url || "/"));
});
