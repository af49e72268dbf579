/* The supervisor's live screen and wall-board: the panels arrive rendered over
   /supervisor/events and replace the old ones; the page never reloads. Timers tick here
   from the server's timestamps (data-since, in seconds), corrected by the difference
   between the server's clock and this one. A lost connection is shown, and EventSource's
   reconnect sends Last-Event-ID: the server answers with the whole current picture. */
(function () {
  "use strict";
  var root = document.querySelector(".sv-live");
  if (!root || !window.EventSource) { return; }
  var panels = document.getElementById("sv-panels");
  var offline = document.getElementById("sv-offline");
  var skew = 0; // server clock minus this clock, in seconds
  var source = null;
  var lastId = root.dataset.lastId || "0";

  function setSkew(serverNow) {
    var value = parseFloat(serverNow);
    if (!isNaN(value)) { skew = value - Date.now() / 1000; }
  }

  function mmss(seconds) {
    var whole = Math.max(0, Math.floor(seconds));
    var h = Math.floor(whole / 3600), m = Math.floor(whole / 60) % 60, s = whole % 60;
    var text = (m < 10 && h ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
    return h ? h + ":" + text : text;
  }

  function tick() {
    var now = Date.now() / 1000 + skew;
    Array.prototype.forEach.call(root.querySelectorAll(".js-timer[data-since]"), function (node) {
      var waited = now - parseFloat(node.dataset.since);
      node.textContent = mmss(waited);
      // the queue's row turns red the moment its longest wait passes the threshold,
      // not at the next event.
      if (node.dataset.overS) {
        var over = waited > parseFloat(node.dataset.overS);
        var row = node.closest("tr");
        if (row) { row.classList.toggle("sv-over", over); }
        var mark = node.parentNode.querySelector(".sv-over-mark");
        if (mark) { mark.hidden = !over; }
      }
    });
  }

  function query() {
    var params = [];
    if (root.dataset.queue) { params.push("queue=" + encodeURIComponent(root.dataset.queue)); }
    if (root.dataset.department) {
      params.push("department=" + encodeURIComponent(root.dataset.department));
    }
    return params;
  }

  function connect() {
    if (source) { source.close(); }
    var params = query().concat(["last_id=" + encodeURIComponent(lastId)]);
    source = new EventSource(root.dataset.stream + "?" + params.join("&"));
    source.addEventListener("screen", function (event) {
      var data = JSON.parse(event.data);
      if (event.lastEventId) { lastId = event.lastEventId; }
      setSkew(data.server_now);
      panels.innerHTML = data.html;
      root.dataset.version = String(parseInt(root.dataset.version || "0", 10) + 1);
      offline.hidden = true;
      tick();
    });
    source.addEventListener("open", function () { offline.hidden = true; });
    source.addEventListener("error", function () {
      offline.textContent = root.dataset.offline;
      offline.hidden = false;
    });
    source.addEventListener("signed_out", function () { window.location.assign("/sign-in"); });
  }

  // Filters change the stream, not the page: the address follows for a bookmark.
  var form = document.getElementById("sv-filters");
  if (form) {
    form.addEventListener("change", function () {
      root.dataset.queue = form.elements.queue.value;
      root.dataset.department = form.elements.department.value;
      var params = query();
      window.history.replaceState(null, "", "/supervisor" + (params.length ? "?" + params.join("&") : ""));
      connect();
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); connect(); });
  }

  setSkew(root.dataset.serverNow);
  tick();
  setInterval(tick, 1000);
  connect();
}());
