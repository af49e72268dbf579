/* The back office's pages (R-3.1 .. ): keep "Calls in voicemail" and an item page
   current without reloading them. hotline.js owns the one EventSource of the page and fires
   document events "hotline:backoffice" (detail: {kind, item_id, box_id, state}) and
   "hotline:call" (the person's own calls, e.g. a call back); on those this script fetches
   the page again and swaps the live parts in place. Audio players are swapped only while
   nothing plays, so a message keeps playing. Plain JavaScript, no build step. */
(function () {
  "use strict";
  var list = document.getElementById("bo-list");
  var item = document.querySelector(".backoffice-item");
  var pending = null;
  var refreshes = 0;

  function playing() {
    return Array.prototype.some.call(document.querySelectorAll("audio"), function (audio) {
      return !audio.paused && !audio.ended;
    });
  }

  function swap(doc, id) {
    var fresh = doc.getElementById(id), old = document.getElementById(id);
    if (fresh && old) { old.parentNode.replaceChild(document.importNode(fresh, true), old); }
  }

  function refresh(url, ids) {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        ids.forEach(function (id) { swap(doc, id); });
        if (item && !playing()) { swap(doc, "bo-calls-card"); }
        bind();
        refreshes += 1;
        document.body.dataset.backofficeRefreshes = String(refreshes);
      })
      .catch(function () { /* offline for a moment: the next event tries again */ });
  }

  function soon(url, ids) {
    // Several events often come at once (claim + state): one fetch for all of them.
    if (pending) { clearTimeout(pending); }
    pending = setTimeout(function () { pending = null; refresh(url, ids); }, 250);
  }

  function itemUrl() { return "/backoffice/items/" + item.dataset.item; }

  function bind() {
    var play = document.getElementById("bo-play");
    if (play && !play.dataset.bound) {
      play.dataset.bound = "yes";
      play.addEventListener("click", function () {
        var audio = document.getElementById(play.dataset.play);
        if (audio) { audio.scrollIntoView({ block: "nearest" }); audio.play(); }
      });
    }
    var calling = document.getElementById("bo-calling");
    if (calling && !calling.dataset.bound) {
      // A call back is under way: look again until its outcome is in (live call events
      // usually come first; this also covers a stream that is reconnecting).
      calling.dataset.bound = "yes";
      setTimeout(function () { soon(itemUrl(), ["bo-live", "bo-history-card"]); },
        parseInt(calling.dataset.pollMs, 10) || 3000);
    }
    var held = document.getElementById("bo-held");
    if (held && !held.dataset.bound) {
      // Someone else's claim lapses by itself: show the item free again then.
      held.dataset.bound = "yes";
      var ms = parseInt(held.dataset.freeInMs, 10);
      if (ms >= 0) {
        setTimeout(function () { soon(itemUrl(), ["bo-live", "bo-history-card"]); },
          Math.min(ms + 500, 2147483647));
      }
    }
  }

  if (list) {
    document.addEventListener("hotline:backoffice", function () {
      soon(window.location.href, ["bo-list"]);
    });
  }
  if (item) {
    document.addEventListener("hotline:backoffice", function (event) {
      if (String(event.detail.item_id) === item.dataset.item) {
        soon(itemUrl(), ["bo-live", "bo-history-card"]);
      }
    });
    document.addEventListener("hotline:call", function () {
      soon(itemUrl(), ["bo-live", "bo-history-card"]);
    });
  }
  bind();
})();
