/* What was typed into a form marked data-keep (the campaign start form, and the preview's and the
   "same campaign runs" forms that carry its fields), kept when the form is sent, for the one case the
   server cannot take it: the login had ended. The server then sends the person to the login and, after
   it, back to the form's page with #kept (staff_pages.login_post); only then does the form get back what
   was typed, once, with a line saying so. Any other load of a page with such a form forgets it (it was
   taken, or refused on a page that shows it again).
   Kept in sessionStorage: this tab only, gone when the tab closes or the person logs out, never sent
   anywhere; the CSRF token, passwords and the confirmation boxes are never kept, nor is anything older
   than MAX_AGE_MS.
   No framework, no inline code (the CSP allows only same-origin scripts). */
(function () {
  "use strict";
  var PREFIX = "safetynet.kept.";
  var MAX_AGE_MS = 12 * 3600 * 1000;
  var SKIP = { csrf: true, really: true, really_real: true, force: true, tell_households: true };
  var store = null;
  try { store = window.sessionStorage; } catch (e) { return; }  // storage off: nothing is kept
  if (!store) { return; }

  function keptFields(form) {
    var kept = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      var type = (el.type || "").toLowerCase();
      if (!el.name || SKIP[el.name] || el.disabled || type === "password" || type === "file"
          || type === "submit" || type === "button") { return; }
      if ((type === "checkbox" || type === "radio") && !el.checked) { return; }
      kept[el.name] = el.value;
    });
    return kept;
  }

  function forgetAll() {
    for (var i = store.length - 1; i >= 0; i--) {
      var key = store.key(i);
      if (key && key.indexOf(PREFIX) === 0) { store.removeItem(key); }
    }
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (form && form.getAttribute && form.getAttribute("action") === "/logout") { forgetAll(); return; }
    if (!form || !form.dataset || !form.dataset.keep) { return; }
    try {
      store.setItem(PREFIX + form.dataset.keep, JSON.stringify({ at: Date.now(), fields: keptFields(form) }));
    } catch (e) { /* full or refused: the form is sent as ever */ }
  }, true);

  function put(form, name, value) {
    var el = form.elements.namedItem(name);
    if (!el) { return; }
    if (el.length !== undefined && !el.tagName) {  // a group of radio buttons (RadioNodeList)
      el.value = value;
      return;
    }
    var type = (el.type || "").toLowerCase();
    if (type === "hidden" || type === "password" || type === "checkbox" || type === "radio") { return; }
    var before = el.value;
    el.value = value;
    if (el.tagName === "SELECT" && el.value !== value) { el.value = before; }  // no longer offered
  }

  var back = location.hash === "#kept";
  Array.prototype.forEach.call(document.querySelectorAll("form[data-keep]"), function (form) {
    var key = PREFIX + form.dataset.keep;
    var raw = store.getItem(key);
    if (raw === null) { return; }
    store.removeItem(key);  // once, whatever happens next
    if (!back || form.dataset.keptMsg === undefined) { return; }
    var kept = null;
    try { kept = JSON.parse(raw); } catch (e) { return; }
    if (!kept || !kept.fields || typeof kept.at !== "number" || Date.now() - kept.at > MAX_AGE_MS) { return; }
    Object.keys(kept.fields).forEach(function (name) { put(form, name, String(kept.fields[name])); });
    var said = document.createElement("p");
    said.className = "flash";
    said.setAttribute("role", "status");
    said.dataset.kept = "";
    said.textContent = form.dataset.keptMsg;
    said.tabIndex = -1;
    form.parentNode.insertBefore(said, form);
    // the start form sits below the overview on /city: the person is taken to it, not left at the top
    if (said.scrollIntoView) { said.scrollIntoView({ block: "start" }); }
    said.focus({ preventScroll: true });
  });
  if (back && window.history && history.replaceState) {
    history.replaceState(history.state, "", location.pathname + location.search);  // a reload restores nothing
  }
})();
