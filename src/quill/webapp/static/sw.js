// Quill's service worker: shows "new message" notifications and opens the thread when
// one is chosen. The push payload holds only a fixed title and the thread's id, never
// any clinical text, so there is nothing here to keep private.
"use strict";

function threadUrl(data) {
  var id = data && data.conversation_id;
  return Number.isInteger(id) && id > 0 ? "/threads/" + id : "/threads";
}

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (error) {
    data = {};
  }
  var url = threadUrl(data);
  event.waitUntil(self.registration.showNotification(data.title || "New message", {
    body: "A thread you take part in has a new message.",
    tag: url,  // one notification per thread: a second message replaces the first
    renotify: true,
    data: { url: url }
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = (event.notification.data && event.notification.data.url) || "/threads";
  var target = new URL(url, self.location.origin).href;
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true })
    .then(function (windows) {
      for (var i = 0; i < windows.length; i += 1) {
        if (windows[i].url === target && "focus" in windows[i]) {
          return windows[i].focus();
        }
      }
      return self.clients.openWindow(target);
    }));
});
