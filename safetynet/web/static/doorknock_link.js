/* The dashboard's link to the door-knock list carries the 班 chosen in its filter: dash.js changes the
   filter in place, without a reload, so the link rendered with the page would give the old 班. */
(function () {
  "use strict";
  var form = document.querySelector("[data-filters]"), link = document.querySelector("a[data-doorknock-link]");
  if (!form || !link) { return; }
  form.addEventListener("change", function () {
    var sel = form.querySelector('select[name="group"]'), url = new URL(link.href);
    if (sel && sel.value) { url.searchParams.set("group", sel.value); } else { url.searchParams.delete("group"); }
    link.href = url.pathname + url.search;
  });
})();
