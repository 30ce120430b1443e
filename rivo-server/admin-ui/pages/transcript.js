// A chat session's transcript (`#/chat_sessions/<uuid>`), following new messages as they are
// stored; the transcript block is also the client page's linked conversation.

import { api, withQuery } from "../api.js";
import { formatDate, h, mount } from "../dom.js";
import { onActivity } from "../live.js";
import { privacyCard } from "../privacy.js";
import { sectionOf, session } from "../session.js";
import { main, setTitle } from "../shell.js";

function bubble(m) {
  return h("li", { class: `bubble from-${m.sender_type}`, "data-id": String(m.id) },
    h("div", { class: "meta" }, h("strong", {}, m.sender_type === "bot" ? "Bot" : "Client"), " · ",
      h("time", { datetime: m.sent_at }, formatDate(m.sent_at))),
    h("p", {}, m.message));
}

/** The messages of `history` (`{messages: […]}`) as a conversation. */
export function transcript(history) {
  if (!history.messages.length) return h("p", { class: "empty transcript-empty" }, "No messages.");
  return h("ol", { class: "transcript", "aria-label": "Conversation" }, history.messages.map(bubble));
}

/** Appends the session's new messages to its transcript as they are stored (once each). */
function followTranscript(sessionId, container, onCount) {
  const seen = new Set([...container.querySelectorAll(".bubble")].map((b) => b.dataset.id));
  onActivity((event) => {
    const m = event.data;
    if (event.type !== "message.created" || m.session_id !== sessionId || seen.has(String(m.id))) return;
    seen.add(String(m.id));
    let list = container.querySelector("ol.transcript");
    if (!list) {
      container.querySelector(".transcript-empty")?.remove();
      list = h("ol", { class: "transcript", "aria-label": "Conversation" });
      container.append(list);
    }
    list.append(bubble(m));
    onCount?.(seen.size);
  });
}

export async function transcriptPage(sessionId) {
  const sessions = sectionOf("chat_sessions");
  const abilities = sessions.abilities;
  const history = await api("GET", `${sessions.api}${encodeURIComponent(sessionId)}/`);
  setTitle(`Session ${sessionId}`, [[sessions.label, "#/chat_sessions"]]);
  const count = h("span", { id: "message-count" }, `${history.messages.length} messages`);
  const live = h("div", { id: "live-transcript" }, transcript(history));
  mount(main,
    h("h1", {}, "Chat session"),
    h("p", { class: "subtitle mono" }, sessionId),
    h("p", {}, count, " · ",
      session.sections.has("chat_messages") ? h("a", { href: withQuery("#/chat_messages", { session_id: sessionId }) }, "Messages in the change list") : null),
    live,
    privacyCard("chat_sessions", sessionId),
    abilities.delete ? h("div", { class: "submit-row" }, h("a", { class: "button deletelink", href: `#/chat_sessions/${encodeURIComponent(sessionId)}/delete` }, "Delete this session")) : null);
  // Messages stored since the history was read (each shown once, however they arrive).
  followTranscript(sessionId, live, (n) => { count.textContent = `${n} messages`; });
}
