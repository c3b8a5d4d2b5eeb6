// The notifications switch on /account/notifications: registers the service worker
// (/sw.js, scope "/"), subscribes this browser with the server's VAPID key and sends the
// subscription to the API; turning it off unsubscribes and tells the API to forget it.
(function () {
  "use strict";

  var root = document.getElementById("push-settings");
  if (!root) {
    return;
  }
  var toggle = document.getElementById("push-switch");
  var status = document.getElementById("push-status");

  function say(text) {
    status.textContent = text;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // The VAPID key arrives as base64url; PushManager wants its raw bytes.
  function keyBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    base64 += "===".slice((base64.length + 3) % 4);
    var raw = window.atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  function send(method, body) {
    return fetch(root.dataset.subscribeUrl, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body)
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("Quill answered " + response.status);
      }
    });
  }

  function serverKey() {
    return fetch(root.dataset.keyUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("Quill answered " + response.status);
        }
        return response.json();
      })
      .then(function (body) { return keyBytes(body.public_key); });
  }

  function turnOn() {
    return Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        throw new Error("Notifications are blocked for Quill in this browser's settings.");
      }
      return Promise.all([navigator.serviceWorker.ready, serverKey()]);
    }).then(function (parts) {
      return parts[0].pushManager.subscribe({ userVisibleOnly: true,
                                              applicationServerKey: parts[1] });
    }).then(function (subscription) {
      return send("POST", subscription.toJSON());
    });
  }

  function turnOff() {
    return navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (!subscription) {
        return undefined;
      }
      var endpoint = subscription.endpoint;
      return subscription.unsubscribe().then(function () {
        return send("DELETE", { endpoint: endpoint });
      });
    });
  }

  function show(on) {
    toggle.checked = on;
    say(on ? "On: this browser shows a notification when a thread has a new message."
           : "Off: this browser shows no notifications from Quill.");
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window) ||
      !("Notification" in window)) {
    say("This browser cannot show notifications from Quill.");
    return;
  }

  navigator.serviceWorker.register(root.dataset.workerUrl, { scope: "/" })
    .then(function (registration) { return registration.pushManager.getSubscription(); })
    .then(function (subscription) {
      toggle.disabled = false;
      show(Boolean(subscription));
    })
    .catch(function (error) {
      say("Notifications could not be set up in this browser: " + error.message);
    });

  toggle.addEventListener("change", function () {
    var wanted = toggle.checked;
    toggle.disabled = true;
    say(wanted ? "Turning notifications on…" : "Turning notifications off…");
    (wanted ? turnOn() : turnOff()).then(function () {
      show(wanted);
    }).catch(function (error) {
      show(!wanted);
      say("That did not work: " + error.message);
    }).then(function () {
      toggle.disabled = false;
    });
  });
})();
