/* SafetyNet service worker: shows the alert with two answer buttons and sends the answer without
   opening a page. A tap on the body opens the reply page. Showing the notification records "read"
   (never an answer). Payload: {title, body, url, token, actions: [{action, title}], campaign, drill, channel};
   answers and "seen" say which channel carried the notification (`via`). */
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function tokenOf(d) {
  if (d.token) return d.token;
  var m = /\/r\/([A-Za-z0-9_-]+)/.exec(d.url || "");
  return m ? m[1] : "";
}

function replyPath(token, suffix) {
  return "/r/" + encodeURIComponent(token) + (suffix || "");
}

self.addEventListener("push", function (event) {
  var d = {};
  try { d = event.data ? event.data.json() : {}; } catch (e) { d = { body: event.data ? event.data.text() : "" }; }
  var token = tokenOf(d);
  var options = {
    body: d.body || "",
    data: { url: d.url || "/", token: token, via: d.channel || "push" },
    requireInteraction: true,
    renotify: true,
    tag: d.campaign ? "safetynet-c" + d.campaign : "safetynet"
  };
  // Staff alerts carry no token: no answer buttons, a tap opens the dashboard link.
  if (token && Array.isArray(d.actions)) {
    options.actions = d.actions.slice(0, 2).map(function (a) { return { action: a.action, title: a.title }; });
  }
  var shown = self.registration.showNotification(d.title || "安否確認 / Safety check", options);
  var seen = token
    ? fetch(replyPath(token, "/seen?via=" + encodeURIComponent(options.data.via)),
            { method: "POST", credentials: "omit" }).catch(function () {})
    : Promise.resolve();
  event.waitUntil(Promise.all([shown, seen]));
});

function wait(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

function newKey() {
  // The same key on every retry: the server counts the answer once.
  return "sw" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

async function postAnswer(token, status, via) {
  var key = newKey();
  for (var attempt = 0; attempt < 4; attempt++) {
    try {
      var resp = await fetch(replyPath(token, "/answer"), {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ status: status, key: key, via: via })
      });
      if (resp.ok) return await resp.json();
      if (resp.status < 500 && resp.status !== 429) throw new Error("refused " + resp.status);
    } catch (e) {
      if (String(e.message || "").indexOf("refused") === 0) throw e;
    }
    await wait(1000 * (attempt + 1));
  }
  throw new Error("not recorded");
}

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
    event.waitUntil(
      postAnswer(d.token, event.action, d.via)
        .then(function (res) {
          return self.registration.showNotification(res.message || "OK", { tag: "safetynet-recorded", data: d });
        })
        .catch(function () { return openPage(d.url); }) // not recorded: let the resident answer on the page
    );
    return;
  }
  event.waitUntil(openPage(d.url || "/"));
});
