// dcwatch console: live updates, the console's only script (docs/web.md).
// Every few seconds it fetches the page it is on again and puts the new
// <main> in place of the old one. It leaves the page alone while the user
// is at work in it: typing, or having typed or ticked something not yet
// sent. It does not poll while the tab is hidden. A fetch that fails shows
// the page's "connection lost" line (its words are in the page, from the
// catalogue); a session that ended (sent to the login) reloads the page,
// which then shows the login; a page that answers 4xx is not asked for
// again. The requests say they are live updates (X-Dcwatch-Live), so they
// do not keep a session from its idle timeout.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var every = main && Number(main.getAttribute("data-live"));
  if (!every || !window.fetch || !window.DOMParser) return;
  var lost = document.getElementById("live-lost");
  var dirty = false;
  var busy = false;

  function watch() {
    main.addEventListener("input", function () { dirty = true; });
    main.addEventListener("change", function () { dirty = true; });
  }

  function typing() {
    var a = document.activeElement;
    return !!(a && main.contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName));
  }

  function show(off) {
    if (lost) lost.hidden = off;
  }

  function tick() {
    if (busy || dirty || document.hidden || typing()) return;
    busy = true;
    fetch(location.href, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-Dcwatch-Live": "1" },
    })
      .then(function (r) {
        if (r.redirected) {
          location.reload();
          return null;
        }
        // A page that answers 4xx (a bad period, a malformed date) says so
        // already: it is not asked for again.
        if (r.status >= 400 && r.status < 500) {
          clearInterval(timer);
          return null;
        }
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        if (html === null) return;
        show(true);
        if (dirty || typing()) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (!fresh) return;
        main.replaceWith(fresh);
        main = fresh;
        watch();
        document.documentElement.setAttribute("data-live-updates", String(Number(document.documentElement.getAttribute("data-live-updates") || 0) + 1));
      })
      .catch(function () { show(false); })
      .then(function () { busy = false; });
  }

  watch();
  var timer = setInterval(tick, every * 1000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
})();
