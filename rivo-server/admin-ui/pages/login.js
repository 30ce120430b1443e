// Logging in and out, and the account tools in the header.

import { ApiError, api, setCsrfToken } from "../api.js";
import { h, mount } from "../dom.js";
import { endSession, loadSession, session } from "../session.js";
import { flash, go, main, setTitle } from "../shell.js";

const userTools = document.getElementById("user-tools");

/** The header's "Welcome, …" and "Log out" (nothing when logged out). */
export function renderUserTools() {
  if (!session.me) {
    mount(userTools);
    return;
  }
  mount(userTools,
    h("span", { class: "welcome" }, "Welcome, ", h("strong", {}, session.me.first_name || session.me.email)),
    h("button", { type: "button", class: "link-button", id: "logout", onclick: logout }, "Log out"));
}

async function logout() {
  try {
    await api("POST", "/api/v1/account/logout/");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
  endSession();
  flash("You are logged out.", "info");
  go("#/login");
}

/** `#/login?next=#/…`: the login form, then the page asked for. */
export function loginPage(query) {
  session.me = null;
  renderUserTools();
  setTitle("Log in");
  const errors = h("div", { class: "form-errors", role: "alert" });
  const email = h("input", { id: "login-email", name: "email", type: "email", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", novalidate: true },
    h("h1", {}, "Log in"),
    errors,
    h("div", { class: "field" }, h("label", { for: "login-email" }, "Email address"), email),
    h("div", { class: "field" }, h("label", { for: "login-password" }, "Password"), password),
    h("div", { class: "submit-row" }, h("button", { type: "submit", class: "primary", id: "login-submit" }, "Log in")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    mount(errors);
    try {
      const resp = await api("POST", "/api/v1/account/session/", { email: email.value, password: password.value });
      setCsrfToken(resp.csrf_token);
      if (!(await loadSession())) {
        await api("POST", "/api/v1/account/logout/").catch(() => null);
        mount(errors, h("p", {}, "This account cannot use the admin: only active staff users can log in here."));
        return;
      }
      const next = query.get("next");
      go(next && next.startsWith("#/") && !next.startsWith("#/login") ? next : "#/");
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const text = err.status === 400 || err.status === 401
        ? "Please enter the correct email address and password for a staff account. Note that the password is case-sensitive."
        : err.message;
      mount(errors, h("p", {}, text));
    }
  });
  mount(main, form);
  email.focus();
}
