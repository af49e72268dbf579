/* The supervisor's live screen and wall-board: the panels arrive rendered over
   /supervisor/events and replace the old ones; the page never reloads. Timers tick here
   from the server's timestamps (data-since, in seconds), corrected by the difference
   between the server's clock and this one. A lost connection is shown, and EventSource's
   reconnect sends Last-Event-ID: the server answers with the whole current picture.
   A call's detail and "Set state" are dialogs outside the panels: a
   refresh of the panels does not close them. */
(function () {
  "use strict";
  var root = document.querySelector(".sv-live");
  if (!root) { return; }
  var panels = document.getElementById("sv-panels");
  var offline = document.getElementById("sv-offline");
  var skew = 0; // server clock minus this clock, in seconds
  var source = null;
  var lastId = root.dataset.lastId || "0";
  var spyShown = function () {}; // the spy bar's update, set below where the bar is

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
    if (root.dataset.agent) { params.push("agent=" + encodeURIComponent(root.dataset.agent)); }
    return params;
  }

  function connect() {
    if (source) { source.close(); }
    var params = query().concat(["last_id=" + encodeURIComponent(lastId)]);
    if (root.dataset.board) { params.push("board=1"); }
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
    source.addEventListener("spy", function (event) {
      spyShown(JSON.parse(event.data).html);
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
      root.dataset.agent = form.elements.agent.value;
      var params = query();
      window.history.replaceState(null, "", "/supervisor" + (params.length ? "?" + params.join("&") : ""));
      connect();
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); connect(); });
  }

  // The detail of a call: its part of the page, fetched into the dialog.
  var callDialog = document.getElementById("sv-call-dialog");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  root.addEventListener("click", function (event) {
    var link = event.target.closest("a.sv-detail");
    if (!link || !callDialog) { return; }
    event.preventDefault();
    fetch(link.getAttribute("href") + "?part=1", { credentials: "same-origin" })
      .then(function (response) { return response.text().then(function (text) {
        return { ok: response.ok, text: text };
      }); })
      .then(function (answer) {
        var body = document.getElementById("sv-call-body");
        if (answer.ok) { body.innerHTML = answer.text; } else {
          var problem = document.createElement("p");
          problem.className = "alert alert-error";
          try { problem.textContent = JSON.parse(answer.text).error; } catch (e) {
            problem.textContent = answer.text;
          }
          body.replaceChildren(problem);
        }
        if (!callDialog.open) { callDialog.showModal(); }
        tick();
      });
  });

  // Set an agent's state: the agent's own rules decide; a refusal is shown here.
  var stateDialog = document.getElementById("sv-state-dialog");
  var stateForm = document.getElementById("sv-state-form");
  var stateError = document.getElementById("sv-state-error");
  if (stateDialog && stateForm) {
    var pauseSelect = stateForm.elements.pause_type_id;
    var followAction = function () {
      pauseSelect.disabled = stateForm.elements.action.value !== "pause";
    };
    stateForm.addEventListener("change", followAction);
    root.addEventListener("click", function (event) {
      var button = event.target.closest("button.sv-set-state");
      if (!button) { return; }
      stateForm.elements.agent_id.value = button.dataset.agentId;
      document.getElementById("sv-state-name").textContent = button.dataset.agentName;
      stateError.hidden = true;
      followAction();
      stateDialog.showModal();
    });
    document.getElementById("sv-state-cancel").addEventListener("click", function () {
      stateDialog.close();
    });
    stateForm.addEventListener("submit", function (event) {
      event.preventDefault();
      // getAttribute: the radio buttons named "action" hide the form's own .action
      fetch(stateForm.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfMeta ? csrfMeta.content : "", "Accept": "application/json" },
        body: new URLSearchParams(new FormData(stateForm))
      }).then(function (response) {
        return response.json().then(function (data) {
          if (response.ok) { stateDialog.close(); return; }
          stateError.textContent = data.error || response.statusText;
          stateError.hidden = false;
        });
      });
    });
  }

  // Listen, whisper, barge: the supervisor's running spy calls are the server's
  // (sent with the page, and over the stream as "spy" when one starts, answers or ends, in
  // any tab), shown in a bar outside the panels, each with its mode, its call and Stop.
  var spyBar = document.getElementById("sv-spy-bar");
  var spyStatus = document.getElementById("sv-spy-status");
  var spyList = document.getElementById("sv-spy-list");
  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfMeta ? csrfMeta.content : "", "Accept": "application/json" },
      body: body
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    });
  }
  function showSpyCalls(html) {
    if (!spyBar) { return; }
    if (typeof html === "string") { spyList.innerHTML = html; }
    var running = spyList.querySelector(".sv-spy-call") !== null;
    spyBar.hidden = !running && spyStatus.hidden;
  }
  function spyNote(text) {
    spyStatus.textContent = text || "";
    spyStatus.hidden = !text;
    showSpyCalls();
  }
  spyShown = showSpyCalls;
  if (spyBar && callDialog) {
    callDialog.addEventListener("submit", function (event) {
      var spyForm = event.target.closest("#sv-spy-form");
      if (!spyForm) { return; }
      event.preventDefault();
      spyNote(spyBar.dataset.calling);
      callDialog.close();
      post(spyForm.getAttribute("action"), new URLSearchParams(new FormData(spyForm)))
        .then(function (answer) {
          if (!answer.ok) { spyNote(answer.data.error); return; }
          showSpyCalls(answer.data.html);
          spyNote("");
        });
    });
    spyBar.addEventListener("click", function (event) {
      var button = event.target.closest("button.sv-spy-stop");
      if (!button) { return; }
      var body = new URLSearchParams({ channel: button.dataset.channel || "" });
      post("/supervisor/spy/stop", body).then(function (answer) {
        if (answer.ok) { showSpyCalls(answer.data.html); }
        spyNote(answer.ok ? spyBar.dataset.stopped : answer.data.error);
      });
    });
  }

  setSkew(root.dataset.serverNow);
  tick();
  setInterval(tick, 1000);
  if (root.dataset.stream && window.EventSource) { connect(); }
}());
