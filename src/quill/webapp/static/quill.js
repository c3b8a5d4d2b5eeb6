// Quill's own script: small, and nothing a page needs in order to work.
// 1. Every htmx request carries the CSRF token from the page's meta tag as a header.
// 2. While a signed-in page is open, the session's short-lived access cookie is renewed
//    in the background, so a clinician reading a thread is not signed out mid-task.
// 3. On a thread page, only live events about that thread fetch its new messages.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) {
      event.detail.headers["X-CSRF-Token"] = token;
    }
  });

  // 3. Live threads: the event stream carries the events of all my threads; only one
  //    for the thread on the screen lets its element fetch the new messages.
  document.addEventListener("htmx:confirm", function (event) {
    var thread = event.detail.elt.getAttribute("data-live-thread");
    var trigger = event.detail.triggeringEvent;
    if (!thread || !trigger || trigger.type.indexOf("sse:") !== 0) {
      return;
    }
    var data = {};
    try {
      data = JSON.parse(trigger.detail.data);
    } catch (error) {
      data = {};
    }
    if (String(data.conversation_id) !== thread) {
      event.preventDefault();
    }
  });

  var RENEW_EVERY_MS = 10 * 60 * 1000;
  var RENEWED_KEY = "quill-session-renewed-at";

  // A refresh token is good for one use; two tabs sending the same one at once would
  // end the session. Tabs share the time of the last renewal and skip a recent one.
  function renewSession() {
    var last = Number(window.localStorage.getItem(RENEWED_KEY) || 0);
    if (Date.now() - last < RENEW_EVERY_MS / 2) {
      return;
    }
    window.localStorage.setItem(RENEWED_KEY, String(Date.now()));
    fetch("/api/auth/refresh", { method: "POST", credentials: "same-origin" })
      .catch(function () { /* offline: the next page load asks for sign-in if needed */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.body.dataset.signedIn === "true") {
      window.setInterval(renewSession, RENEW_EVERY_MS);
    }
    var summary = document.querySelector(".error-summary");
    if (summary) {
      summary.focus();
    }
  });
})();
