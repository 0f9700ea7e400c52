/* What the live staff pages (the association dashboard, the door-knock list, the city overview)
   share when their login has expired: every call answers 401 from then on, so trying again cannot
   help and logging in again can (the login brings the user back to the page). Loaded before the
   page's own script; no framework, no inline code (the CSP allows only same-origin scripts). */
(function () {
  "use strict";
  var main = document.getElementById("main");
  var notice = null;

  // The notice under the campaign line, with the link to the login; the live stream stops and the
  // live indicator says so. `text`: what the page says (a tap not saved, or the updates stopped).
  function expired(text, stream, live) {
    if (stream) { stream.close(); }
    if (live) { live.textContent = main.dataset.liveStopped; live.classList.remove("on"); }
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "flash";
      notice.setAttribute("role", "alert");
      notice.dataset.loginExpired = "";
      var line = document.querySelector("p.campaign");
      if (line) { line.parentNode.insertBefore(notice, line.nextSibling); }
      else { main.insertBefore(notice, main.firstChild); }
    }
    notice.textContent = text + " ";
    var a = document.createElement("a");
    a.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    a.textContent = main.dataset.msgLogin;
    notice.appendChild(a);
    return notice;
  }

  // EventSource retries a dropped connection by itself, but gives up on an answer that is not a
  // stream (a 401 once the session ended) without saying which: ask the server what it answers,
  // and stop at the headers (the status is all that is needed, not a second stream).
  function whyClosed(url, onExpired) {
    var stop = window.AbortController ? new AbortController() : null;
    fetch(url, { credentials: "same-origin", headers: { Accept: "text/event-stream" },
                 signal: stop ? stop.signal : undefined })
      .then(function (r) { if (stop) { stop.abort(); } if (r.status === 401) { onExpired(); } })
      .catch(function () {});
  }

  // A page asked for without a login answers with the login form (a redirect), not what was asked.
  function isLoginForm(r) { return r.redirected && new URL(r.url).pathname === "/login"; }

  // The live stream. The server sends a ping event every 15 s (dash_sse.HEARTBEAT_SECONDS); a stream
  // silent for longer than that, twice over and some, is stalled: a network that holds the connection
  // open and passes nothing never fires an error (QA: 「ライブ更新中」 over 80 s of frozen traffic, an
  // answer in between not shown). Then the page says it is not live and opens a new stream, which
  // starts with the counts as they are. `on`: live(bool), stats(event), closed() (the browser gave up).
  var STALE_MS = 40000;
  function stream(url, on) {
    var es = null;
    var heard = Date.now();
    function alive() { heard = Date.now(); on.live(true); }
    function connect() {
      heard = Date.now();
      es = new EventSource(url);
      es.addEventListener("open", alive);
      es.addEventListener("ping", alive);
      es.addEventListener("stats", function (m) { alive(); on.stats(JSON.parse(m.data)); });
      es.addEventListener("error", function () {
        on.live(false);
        if (es.readyState === EventSource.CLOSED) { on.closed(); }
      });
    }
    connect();
    // a stalled stream, or one the browser gave up on (a proxy's 502 while the server restarts): opened
    // again, unless the page stopped it (an expired login calls close)
    var watch = setInterval(function () {
      if (Date.now() - heard > STALE_MS) {
        on.live(false);
        es.close();
        connect();
      }
    }, 5000);
    return { close: function () { clearInterval(watch); es.close(); } };
  }

  window.SafetyNetLive = { expired: expired, whyClosed: whyClosed, isLoginForm: isLoginForm, stream: stream };
})();
