"""Web Push: per-user subscriptions, VAPID keys and the notifier that sends off the request path."""
