// A user's password change (`#/users/7/password`), as Django's admin has it.

import { ApiError, api } from "../api.js";
import { h, mount } from "../dom.js";
import { fieldRow, formFailed, showFieldErrors } from "../forms.js";
import { sectionOf } from "../session.js";
import { flash, go, main, notFound, setTitle } from "../shell.js";

export async function passwordPage(id) {
  const users = sectionOf("users");
  if (!users.abilities.change) return notFound();
  const user = await api("GET", `${users.api}${encodeURIComponent(id)}/`);
  setTitle("Change password", [[users.label, "#/users"], [user.email, `#/users/${id}`]]);
  const p1 = h("input", { id: "id_password", name: "password", type: "password", autocomplete: "new-password", required: true });
  const p2 = h("input", { id: "id_password2", name: "password2", type: "password", autocomplete: "new-password", required: true });
  const form = h("form", { class: "change-form", id: "password-form", novalidate: true },
    h("div", { class: "form-errors" }),
    h("fieldset", { class: "module" },
      fieldRow({ name: "password", label: "Password", required: true }, p1),
      fieldRow({ name: "password2", label: "Password (again)", required: true }, p2, "Enter the same password as before, for verification.")),
    h("div", { class: "submit-row" }, h("button", { type: "submit", class: "primary" }, "Change password")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (p1.value !== p2.value) {
      showFieldErrors(form, new ApiError(400, { password2: ["The two password fields didn’t match."] }));
      return;
    }
    try {
      await api("POST", `${users.api}${encodeURIComponent(id)}/password/`, { password: p1.value });
      flash("Password changed successfully.");
      go(`#/users/${id}`);
    } catch (err) {
      formFailed(form, err);
    }
  });
  mount(main, h("h1", {}, `Change password: ${user.email}`), form);
  p1.focus();
}
