/* Enrolment page: turns on web push for this household (subscribe, then POST the subscription); on an
   iPhone outside the Home Screen app, shows how to add it there first. */
(function () {
  "use strict";
  var btn = document.getElementById("push-on");
  var status = document.getElementById("push-status");
  var nojs = document.getElementById("push-nojs");
  if (!btn || !status) return;
  // An iPhone takes web push only inside a web app opened from the Home Screen (iOS 16.4+). In a Safari
  // tab the button could only fail: show how to add the page instead. iPadOS may say "Macintosh".
  var ios = /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = navigator.standalone === true ||
    (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches);
  var hint = document.getElementById("iphone");
  if (hint) hint.hidden = !ios || standalone;
  if (ios && !standalone) {
    if (nojs) nojs.textContent = btn.getAttribute("data-ios");
    return;
  }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    // an iPhone before iOS 16.4 has no web push even from the Home Screen: say so, not "check the
    // browser's settings" (review)
    if (nojs) nojs.textContent = btn.getAttribute(ios ? "data-ios-old" : "data-failed");
    return;
  }
  if (nojs) nojs.hidden = true;
  btn.hidden = false;

  function keyBytes(b64u) {
    var s = b64u.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var raw = atob(s);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  btn.addEventListener("click", async function () {
    btn.disabled = true;
    try {
      if ((await Notification.requestPermission()) !== "granted") throw new Error("permission");
      await navigator.serviceWorker.register("/sw.js", { scope: "/" });
      var reg = await navigator.serviceWorker.ready;
      var subscribe = function () {
        return reg.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: keyBytes(btn.getAttribute("data-key"))
        });
      };
      var send = function (s) {
        return fetch(btn.getAttribute("data-url"), {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify(s.toJSON())
        });
      };
      var sub = await reg.pushManager.getSubscription();
      if (!sub) sub = await subscribe();
      var resp = await send(sub);
      if (resp.status === 410) {
        // the push service had dropped the subscription this browser still kept: a new one, once
        await sub.unsubscribe();
        sub = await subscribe();
        resp = await send(sub);
      }
      if (resp.status !== 201) throw new Error("http " + resp.status);
      status.textContent = btn.getAttribute("data-done");
    } catch (e) {
      status.textContent = btn.getAttribute("data-failed");
      btn.disabled = false;
    }
  });
})();
