/* The Active call form (R-2.6 ..) on the desktop, without page reloads.
   The panel is #call-form-panel: rendered by /desktop/call, or empty with
   data-src="/call-form/panel" on another page, which then loads it.
   It opens by itself when the agent's call connects (the "hotline:call" event that
   hotline.js fires for the Server-Sent Events of /events) and marks the call ended when it
   ends. Every form in the panel with data-fetch="<target>" is sent with fetch and the HTML
   fragment that comes back replaces the target ("panel": the whole panel; else the element
   of that id). A JSON answer is an error of the guard ({error}) and is shown at the top.
   Plain JavaScript, no build step. */
(function () {
  "use strict";
  if (!window.fetch) { return; }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  keepDeskFormsHere();
  var panel = document.getElementById("call-form-panel");
  if (!panel) { return; }  // not at a seat: no call form

  function shownCallId() {
    var form = panel.querySelector("[data-call-id]");
    return form ? form.getAttribute("data-call-id") : "";
  }

  function showError(error) {
    var box = panel.querySelector("#cf-error");
    if (!box) {
      box = document.createElement("p");
      box.id = "cf-error";
      box.className = "alert alert-error";
      box.setAttribute("role", "alert");
      panel.insertBefore(box, panel.firstChild);
    }
    box.textContent = (error && error.message) || String(error);
    box.hidden = false;
  }

  function send(method, url, body) {
    var headers = { "X-CSRF-Token": csrf };
    if (body) { headers["Content-Type"] = "application/x-www-form-urlencoded"; }
    return fetch(url, {
      method: method, credentials: "same-origin", headers: headers, body: body || undefined
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (type.indexOf("application/json") !== -1) {
        return response.json().then(function (data) {
          throw new Error(data.error || response.statusText);
        });
      }
      return response.text();
    });
  }

  function place(target, html) {
    if (target === "panel") {
      panel.innerHTML = html;
      return;
    }
    var node = panel.querySelector(target);
    if (node) { node.outerHTML = html; }
  }

  function busy(on) {
    panel.classList.toggle("cf-busy", on);
    panel.setAttribute("aria-busy", on ? "true" : "false");
  }

  function open(callId) {
    busy(true);
    send("GET", "/call-form/" + encodeURIComponent(callId) + "/form").then(function (html) {
      place("panel", html);
      panel.scrollIntoView({ block: "start", behavior: "smooth" });
    }).catch(showError).then(function () { busy(false); });
  }

  function markEnded() {
    var status = panel.querySelector("#cf-status");
    if (status) {
      status.textContent = status.getAttribute("data-ended-text") || "";
      status.classList.remove("cf-connected");
    }
    var hint = panel.querySelector("#cf-connected-hint");
    if (hint) { hint.parentNode.removeChild(hint); }
    var transfer = panel.querySelector("#cf-transfer");  // nothing left to transfer
    if (transfer) { transfer.parentNode.removeChild(transfer); }
  }

  // A page that only holds an empty panel with data-src (e.g. /desktop) loads it once.
  if (panel.getAttribute("data-src") && !panel.children.length) {
    send("GET", panel.getAttribute("data-src")).then(function (html) {
      if (!panel.children.length) { place("panel", html); }
    }).catch(showError);
  }

  // the form opens on answer; it is already open after a reload (server-rendered).
  document.addEventListener("hotline:call", function (event) {
    var detail = event.detail || {};
    var callId = detail.call_id == null ? "" : String(detail.call_id);
    if (!callId) { return; }
    if (detail.kind === "call.answered" && callId !== shownCallId()) {
      open(callId);
    } else if (detail.kind === "call.ended" && callId === shownCallId()) {
      markEnded();
    }
  });

  panel.addEventListener("submit", function (event) {
    var form = event.target;
    var target = form.getAttribute("data-fetch");
    if (!target) { return; }
    event.preventDefault();
    var data = new URLSearchParams(new FormData(form));
    var method = (form.getAttribute("method") || "get").toUpperCase();
    var url = form.getAttribute("data-url") || form.getAttribute("action");
    var answer = method === "GET"
      ? send("GET", url + "?" + data.toString())
      : send("POST", url, data.toString());
    busy(true);
    answer.then(function (html) {
      place(target, html);
      var invalid = panel.querySelector('[aria-invalid="true"]');
      if (invalid && target === "panel") { invalid.focus(); }
    }).catch(showError).then(function () { busy(false); });
  });

  panel.addEventListener("change", function (event) {
    var field = event.target;
    // choosing a level loads the next; a changed level clears every level below.
    if (field.matches("select[data-level]")) {
      var section = field.closest("[data-url]");
      var level = parseInt(field.getAttribute("data-level"), 10);
      var path = new URLSearchParams();
      Array.prototype.forEach.call(panel.querySelectorAll("select[data-level]"), function (s) {
        if (parseInt(s.getAttribute("data-level"), 10) <= level && s.value) {
          path.append(s.name, s.value);
        }
      });
      busy(true);
      send("GET", section.getAttribute("data-url") + "?" + path.toString()).then(function (html) {
        place("#cf-reasons", html);
        var next = panel.querySelector('select[data-level="' + (level + 1) + '"]');
        if (next && field.value) { next.focus(); }
      }).catch(showError).then(function () { busy(false); });
      return;
    }
    // "Customer is unknown" and the location's operator exclude each other.
    var other = { "customer_unknown": "#cf-operator", "assign_to_location_operator": "#cf-unknown" };
    if (field.checked && other[field.name]) {
      var partner = panel.querySelector(other[field.name]);
      if (partner) { partner.checked = false; }
    }
  });

  // On this page the desk's own forms (seat, on-air, pauses) keep the agent here: they go
  // by fetch, and the page is drawn again where it is.
  function keepDeskFormsHere() {
    var forms = document.querySelectorAll(
      'form[action="/desktop/state"], form[action^="/desktop/seat"]');
    Array.prototype.forEach.call(forms, function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        fetch(form.getAttribute("action"), {
          method: "POST", credentials: "same-origin",
          headers: {
            "Accept": "application/json", "X-CSRF-Token": csrf,
            "Content-Type": "application/x-www-form-urlencoded"
          },
          body: new URLSearchParams(new FormData(form)).toString()
        }).then(function (response) {
          return response.json().then(function (data) {
            if (response.ok) { window.location.reload(); return; }
            refuse(data.error || response.statusText);
          });
        }).catch(function () { form.submit(); });
      });
    });
  }

  function refuse(text) {
    var refusal = document.getElementById("refusal");
    if (!refusal) {
      refusal = document.createElement("p");
      refusal.id = "refusal";
      refusal.className = "alert alert-error";
      refusal.setAttribute("role", "alert");
      var state = document.querySelector(".state-panel");
      if (state) { state.insertBefore(refusal, state.firstChild); }
    }
    refusal.textContent = text;
  }
})();
