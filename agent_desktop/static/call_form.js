/* The Active call form (R-2.6 ..) on the desktop, without page reloads.
   The panel is #call-form-panel: rendered by /desktop/call, or empty with
   data-src="/call-form/panel" on another page, which then loads it.
   It opens by itself when the agent's call connects (the "hotline:call" event that
   hotline.js fires for the Server-Sent Events of /events) and marks the call ended when it
   ends. Every form in the panel with data-fetch="<target>" is sent with fetch and the HTML
   fragment that comes back replaces the target ("panel": the whole panel; else the element
   of that id). A JSON answer is an error of the guard ({error}) and is shown at the top.
   A message belongs to the moment it was true: when the call ends, a refusal of an earlier
   Save ("still connected") and an earlier error go. What the agent chose and typed in the
   form (the reason, the note, the RT number) is kept in the tab's sessionStorage until the
   call is saved, so that a reload of the page brings it back.
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
      restoreDraft();
      return;
    }
    var node = panel.querySelector(target);
    if (node) { node.outerHTML = html; }
  }

  // ------------------------------------------------------------ the draft (survives reloads)
  var DRAFT = "hotline.call-form.";

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }
  }

  function saveDraft() {
    var form = panel.querySelector("#cf-save");
    var store = storage();
    var callId = shownCallId();
    if (!form || !store || !callId) { return; }
    var reasons = [];
    Array.prototype.forEach.call(form.querySelectorAll("select[data-level]"), function (s) {
      if (s.value) { reasons.push([s.name, s.value]); }
    });
    var replace = form.querySelector("#cf-replace");
    var draft = {
      reasons: reasons,
      note: (form.querySelector("#cf-note") || {}).value || "",
      rt_number: (form.querySelector("#cf-rt") || {}).value || "",
      replace_number: replace ? replace.checked : false
    };
    try { store.setItem(DRAFT + callId, JSON.stringify(draft)); } catch (e) { /* full */ }
  }

  // After the form was drawn: a saved call needs no draft; an editable one gets back what
  // the agent had chosen and typed, where the page drew it empty (a reload).
  function restoreDraft() {
    var store = storage();
    var callId = shownCallId();
    if (!store || !callId) { return; }
    var form = panel.querySelector("#cf-save");
    if (!form) { store.removeItem(DRAFT + callId); return; }
    var draft;
    try { draft = JSON.parse(store.getItem(DRAFT + callId) || "null"); } catch (e) { draft = null; }
    if (!draft) { return; }
    var note = form.querySelector("#cf-note");
    if (note && !note.value && draft.note) { note.value = draft.note; }
    var rt = form.querySelector("#cf-rt");
    if (rt && !rt.value && draft.rt_number) { rt.value = draft.rt_number; }
    var replace = form.querySelector("#cf-replace");
    if (replace && !replace.checked && draft.replace_number) { replace.checked = true; }
    var section = form.querySelector("#cf-reasons");
    var first = form.querySelector('select[data-level="0"]');
    if (section && first && !first.value && draft.reasons && draft.reasons.length) {
      var path = new URLSearchParams();
      draft.reasons.forEach(function (pair) { path.append(pair[0], pair[1]); });
      send("GET", section.getAttribute("data-url") + "?" + path.toString()).then(function (html) {
        place("#cf-reasons", html);
      }).catch(showError);
    }
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
    // What a Save was refused for while connected is no longer true.
    Array.prototype.forEach.call(panel.querySelectorAll(".cf-form-problem"), function (node) {
      node.parentNode.removeChild(node);
    });
    var error = panel.querySelector("#cf-error");
    if (error) { error.hidden = true; error.textContent = ""; }
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

  restoreDraft();  // a form the server drew with the page
  panel.addEventListener("input", saveDraft);

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
    saveDraft();
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
        saveDraft();  // the levels below the changed one are cleared now
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
