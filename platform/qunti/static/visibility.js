/* Show and hide form fields as the resident answers. The server decides (one source of truth, the
   same JSON Logic that judges the submission): on each change the form is posted to its
   data-visibility-url, and {"visible": {"/path": true|false}} is applied to the wrappers with that
   data-path. Controls inside a hidden wrapper are disabled so the browser neither checks nor sends
   them. Any failure is silent: without this script the server still shows, hides and re-checks
   everything on submit. */
(function () {
  "use strict";

  var DELAY = 250;

  function controlsOf(form) {
    return form.querySelectorAll("[data-visible-if] input, [data-visible-if] select, [data-visible-if] textarea");
  }

  function syncDisabled(form) {
    var controls = controlsOf(form);
    for (var i = 0; i < controls.length; i++) {
      var control = controls[i];
      if (control.hasAttribute("data-locked") || control.type === "hidden" && control.name === "csrf_token") {
        continue;
      }
      var hiddenWrapper = control.closest("[data-visible-if][hidden]");
      control.disabled = hiddenWrapper !== null;
    }
  }

  function apply(form, visible) {
    var wrappers = form.querySelectorAll("[data-visible-if]");
    for (var i = 0; i < wrappers.length; i++) {
      var path = wrappers[i].getAttribute("data-path");
      if (Object.prototype.hasOwnProperty.call(visible, path)) {
        wrappers[i].hidden = !visible[path];
      }
    }
    syncDisabled(form);
  }

  function watch(form) {
    var url = form.getAttribute("data-visibility-url");
    if (!url || !window.FormData || !window.XMLHttpRequest) {
      return;
    }
    var timer = null;
    var sent = 0;

    function ask() {
      var ticket = ++sent;
      var request = new XMLHttpRequest();
      request.open("POST", url, true);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      request.onload = function () {
        if (ticket !== sent || request.status !== 200) {
          return;   // a newer answer is on its way, or the server will sort it out on submit
        }
        try {
          var reply = JSON.parse(request.responseText);
          if (reply && typeof reply.visible === "object") {
            apply(form, reply.visible);
          }
        } catch (ignored) { /* not our JSON: leave the page as it is */ }
      };
      // FormData leaves out disabled controls: answers to hidden questions do not count.
      request.send(new FormData(form));
    }

    function later() {
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(ask, DELAY);
    }

    form.addEventListener("change", later);
    form.addEventListener("input", later);
    syncDisabled(form);
  }

  function start() {
    var forms = document.querySelectorAll("form[data-visibility-url]");
    for (var i = 0; i < forms.length; i++) {
      watch(forms[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
