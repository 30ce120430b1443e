// Live updates from the admin activity stream (`GET /api/v1/admin/events/`, server-sent
// events over the session cookie). One EventSource at a time, opened by the page that wants
// updates and closed when the page changes. The browser reconnects by itself after a dropped
// or ended stream, sending `Last-Event-ID`, so no event is missed in between.

import { ADMIN } from "./api.js";

/** The kinds of activity: what the stream sends and what a webhook endpoint may subscribe to. */
export const EVENT_TYPES = ["message.created", "client.created", "client.stage_changed", "client.assigned"];

let source = null;
let handlers = [];

/** Stops the updates of the previous page. */
export function stopLive() {
  handlers = [];
  if (source) {
    source.close();
    source = null;
  }
}

/** Calls `handler(event)` with every activity (`{id, type, data}`) until the page changes. */
export function onActivity(handler) {
  handlers.push(handler);
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource(`${ADMIN}/events/`, { withCredentials: true });
  const dispatch = (e) => {
    let event;
    try {
      event = JSON.parse(e.data);
    } catch {
      return;
    }
    for (const h of handlers) h(event);
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, dispatch);
}
