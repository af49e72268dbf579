/* The outbound dialogs. The dialog: picking one of the customer's numbers or a
   contact person fills the number to call. The ringing dialog: closes itself when the call
   connects (the agent's "call.answered" event from /events, as the document event
   "hotline:call"), shows how it ended, and asks the server now and then as well, in case
   the live stream is down. Plain JavaScript, no build step. */
(function () {
  "use strict";
  var number = document.getElementById("number");

  function fillFrom(select, attribute) {
    if (!select || !number) { return; }
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var value = option ? option.getAttribute(attribute) : "";
      if (value) { number.value = value; }
    });
  }
  fillFrom(document.getElementById("phone_id"), "data-number");
  fillFrom(document.getElementById("contact_id"), "data-phone");

  var dialog = document.getElementById("ringing");
  if (!dialog || dialog.dataset.final === "yes") { return; }
  var callId = Number(dialog.dataset.callId);
  var progress = document.getElementById("outbound-progress");
  var polling = null;

  function finished(state) {
    if (state.connected) {
      window.location.href = "/desktop";  // the Active call form takes over
      return;
    }
    if (progress && state.text) { progress.textContent = state.text; }
    if (state.final) { window.location.reload(); }
  }

  function ask() {
    fetch(dialog.dataset.stateUrl, {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (state) {
      if (state) { finished(state); }
    }).catch(function () { /* the next tick tries again */ });
  }

  document.addEventListener("hotline:call", function (event) {
    var detail = event.detail || {};
    if (Number(detail.call_id) !== callId) { return; }
    if (detail.kind === "call.answered") {
      window.location.href = "/desktop";
    } else if (detail.kind === "call.ended") {
      ask();
    }
  });
  polling = setInterval(ask, 3000);
  window.addEventListener("pagehide", function () { clearInterval(polling); });
})();
