// Smoke test of the TypeScript client: types generated from openapi.json by openapi-typescript,
// requests made with openapi-fetch. Run by sdk/run.sh against a live server (type-checked with
// `tsc` first): posts messages, reads the history, logs in, lists clients and moves a stage.
// Needs RIVO_URL, RIVO_EMAIL and RIVO_PASSWORD (an active superuser).

import createClient from "openapi-fetch";
import type { components, paths } from "./rivo-api";

type Stage = components["schemas"]["Stage"];

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    console.error(`typescript SDK smoke test failed: ${what}`);
    process.exit(1);
  }
}

const env = (name: string): string => {
  const value = process.env[name];
  check(value !== undefined && value !== "", `${name} is not set`);
  return value;
};

const baseUrl = env("RIVO_URL");
const rivo = createClient<paths>({ baseUrl });
const session = crypto.randomUUID();

// Chat: two messages, then the history in order.
for (const [message, sender_type] of [
  ["Hi, I need a loan", "client"],
  ["Sure, how much?", "bot"],
] as const) {
  const sent = await rivo.POST("/api/v1/chat/stream/", {
    body: { session_id: session, message, sender_type },
  });
  check(sent.response.status === 201, `chat_send answered ${sent.response.status}`);
  check(sent.data !== undefined && sent.data.message === message, "stored message");
  check(sent.data.sender_type === sender_type, "sender type");
}
const history = await rivo.GET("/api/v1/chat/history/", {
  params: { query: { session_id: session } },
});
check(history.data !== undefined, `chat_history: ${JSON.stringify(history.error)}`);
check(
  JSON.stringify(history.data.messages.map((m) => m.message)) ===
    JSON.stringify(["Hi, I need a loan", "Sure, how much?"]),
  "history order",
);

// A typed DRF field error.
const blank = await rivo.POST("/api/v1/chat/stream/", {
  body: { session_id: session, message: "   " },
});
check(blank.response.status === 400 && blank.error !== undefined, "blank message rejected");
check("message" in blank.error, `field error: ${JSON.stringify(blank.error)}`);

// Log in, then the admin API with the token.
const login = await rivo.POST("/api/v1/account/login/", {
  body: { email: env("RIVO_EMAIL"), password: env("RIVO_PASSWORD") },
});
check(login.data !== undefined, `account_login: ${JSON.stringify(login.error)}`);
const admin = createClient<paths>({
  baseUrl,
  headers: { Authorization: `Bearer ${login.data.token}` },
});
const created = await admin.POST("/api/v1/admin/clients/", {
  body: { name: `Grace Hopper ${session}`, chat_session_id: session },
});
check(created.data !== undefined, `admin_clients_create: ${JSON.stringify(created.error)}`);
const lead: Stage = "lead";
check(created.data.current_stage === lead, "new clients are leads");
const page = await admin.GET("/api/v1/admin/clients/", {
  params: { query: { search: session } },
});
check(page.data !== undefined && page.data.count === 1, `admin_clients_list: ${JSON.stringify(page)}`);
check(page.data.results[0]?.id === created.data.id && page.data.next == null, "the client is listed");
const moved = await admin.POST("/api/v1/admin/clients/{id}/stage/", {
  params: { path: { id: created.data.id } },
  body: { to_stage: "contacted", remarks: "called back" },
});
check(moved.data !== undefined && moved.data.changed, `admin_clients_set_stage: ${JSON.stringify(moved.error)}`);
check(moved.data.client.current_stage === "contacted", "the client moved");
check(moved.data.history?.from_stage === "lead", "stage history");
console.log(`typescript SDK smoke test passed: client ${created.data.id} moved lead -> contacted`);
