/* Hotline pages: the live header badge (R-2.3), status line (R-2.5) and supervisors'
   messages (R-2.16) over Server-Sent Events from /events. Plain JavaScript, no build step.
   Other scripts can listen for document events "hotline:call" (detail: {kind, call_id}) and
   "hotline:backoffice" (detail: {kind, item_id, box_id, state}). */
(function () {
  "use strict";
  var body = document.body;
  if (!body || body.dataset.signedIn !== "yes" || !window.EventSource) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var lastId = body.dataset.lastEventId || "0";
  var ticking = null;
  var source = null;

  function mmss(seconds) {
    var whole = Math.max(0, Math.floor(seconds));
    var m = Math.floor(whole / 60), s = whole % 60;
    return (m < 10 ? "0" : "") + m + ":" + (s < 10 ? "0" : "") + s;
  }

  function setBadge(data) {
    var nodes = document.querySelectorAll("#badge, .js-badge");
    Array.prototype.forEach.call(nodes, function (node) {
      node.className = node.className.replace(/\bbadge-[a-z_]+\b/g, "").trim() +
        " badge-" + data.state;
      var label = node.querySelector(".badge-label");
      var detail = node.querySelector(".badge-detail");
      if (label) { label.textContent = data.label; }
      if (detail) { detail.textContent = data.detail || ""; }
    });
    body.dataset.badge = data.state;
    Array.prototype.forEach.call(document.querySelectorAll(".js-since"), function (node) {
      node.textContent = data.since || "";
    });
  }

  // The desktop's state controls follow the live state: "Go on air" is
  // offered only off air and not in a call, the pauses work only where they would not be
  // refused, the current pause is marked, "Outbound call" is offered only where the dialog
  // can place a call (off air, not busy with a call).
  function setControls(controls) {
    if (!controls) { return; }
    var onAir = document.getElementById("go-on-air");
    if (onAir) { onAir.hidden = !controls.can_go_on_air; }
    Array.prototype.forEach.call(document.querySelectorAll("button.pause[data-pause-type]"),
      function (button) {
        var current = String(controls.pause_type_id) === button.dataset.pauseType;
        button.classList.toggle("current", current);
        if (current) { button.setAttribute("aria-current", "true"); }
        else { button.removeAttribute("aria-current"); }
        button.disabled = !controls.can_pause;
      });
    var outbound = document.getElementById("outbound-call");
    if (outbound) { outbound.hidden = !controls.can_call_out; }
  }

  function setStatus(data) {
    var line = document.getElementById("status-line");
    if (!line) { return; }
    if (ticking) { clearInterval(ticking); ticking = null; }
    line.className = "status-line notice-" + data.notice;
    line.textContent = data.text;
    if (data.template && typeof data.waiting_s === "number") {
      var started = Date.now(), base = data.waiting_s, template = data.template;
      ticking = setInterval(function () {
        line.textContent = template.split("{clock}").join(
          mmss(base + (Date.now() - started) / 1000));
      }, 1000);
    }
  }

  function hideLater(item, ms) {
    if (typeof ms === "number" && ms >= 0) {
      setTimeout(function () { removeNote(item); }, Math.min(ms, 2147483647));
    }
  }

  function removeNote(item) {
    if (item && item.parentNode) { item.parentNode.removeChild(item); }
    var list = document.getElementById("notifications");
    var empty = document.getElementById("no-notifications");
    if (list && empty) { empty.hidden = list.children.length > 0; }
  }

  function markRead(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      fetch(form.action, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
      }).then(function (response) {
        if (response.ok) { removeNote(form.closest("li")); }
      });
    });
  }

  function addNotification(data) {
    var list = document.getElementById("notifications");
    if (!list || list.querySelector('[data-notification="' + data.id + '"]')) { return; }
    var item = document.createElement("li");
    item.className = "note note-" + data.severity;
    item.dataset.notification = String(data.id);
    var text = document.createElement("p");
    text.className = "note-text";
    text.textContent = data.message;
    var meta = document.createElement("p");
    meta.className = "note-meta";
    meta.textContent = data.sender;
    var form = document.createElement("form");
    form.method = "post";
    form.action = "/notifications/" + data.id + "/read";
    form.className = "inline js-mark-read";
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "small";
    button.textContent = list.dataset.markRead || "OK";
    form.appendChild(button);
    item.appendChild(text);
    item.appendChild(meta);
    item.appendChild(form);
    list.insertBefore(item, list.firstChild);
    markRead(form);
    removeNote(null);
    hideLater(item, data.hide_in_ms);
  }

  function on(name, handler) {
    source.addEventListener(name, function (event) {
      if (event.lastEventId) { lastId = event.lastEventId; }
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      handler(data);
    });
  }

  function connect() {
    source = new EventSource("/events?last_id=" + encodeURIComponent(lastId));
    on("badge", function (data) {
      // A refusal shown on the desk was about the state it was refused in, which is over.
      var refusal = document.getElementById("refusal");
      if (refusal) { refusal.parentNode.removeChild(refusal); }
      setBadge(data);
      setControls(data.controls);
      if (data.seat_changed && document.getElementById("state-heading")) {
        window.location.reload();  // logged in or out at a seat elsewhere: new controls
      }
    });
    on("status", setStatus);
    on("notification", addNotification);
    on("call", function (data) {
      document.dispatchEvent(new CustomEvent("hotline:call", { detail: data }));
    });
    on("backoffice", function (data) {
      document.dispatchEvent(new CustomEvent("hotline:backoffice", { detail: data }));
    });
    on("signed_out", function () { window.location.href = "/sign-in"; });
    source.onerror = function () {
      // Network trouble: the browser reconnects by itself. A refused stream (signed out,
      // database down) is closed for good: try again a little later.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(connect, 5000);
      }
    };
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.js-mark-read"), markRead);
  Array.prototype.forEach.call(document.querySelectorAll("[data-hide-in-ms]"), function (item) {
    hideLater(item, parseInt(item.dataset.hideInMs, 10));
  });
  connect();
})();
