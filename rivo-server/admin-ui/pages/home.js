// The admin home: every section the user may see with its count, and the links to the
// personal-data search and the webhooks.

import { h, mount } from "../dom.js";
import { privacyHomeLinks } from "../privacy.js";
import { sectionOf, session } from "../session.js";
import { main, setTitle } from "../shell.js";

export function homePage() {
  setTitle("Site administration", null);
  const rows = [...session.sections.keys()].map((name) => {
    const s = session.sections.get(name);
    const canAdd = s.permissions.add && sectionOf(name).creatable;
    return h("tr", {},
      h("th", { scope: "row" }, h("a", { href: `#/${name}` }, s.label)),
      h("td", { class: "count", title: s.count_is_estimate ? "An estimate: the table is too large to count on every visit" : null }, s.count_is_estimate ? `about ${s.count.toLocaleString("en")}` : String(s.count)),
      h("td", {}, canAdd ? h("a", { href: `#/${name}/add`, class: "addlink" }, "Add") : null),
      h("td", {}, h("a", { href: `#/${name}`, class: s.permissions.change ? "changelink" : "viewlink" }, s.permissions.change ? "Change" : "View")));
  });
  mount(main,
    h("h1", {}, "Site administration"),
    rows.length
      ? h("table", { class: "module", id: "sections" },
        h("caption", {}, "Rivo"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Section"), h("th", { scope: "col" }, "Count"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Add")), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Open")))),
        h("tbody", {}, rows))
      : h("p", {}, "You don’t have permission to view or edit anything."),
    privacyHomeLinks(session.me),
    session.me?.is_superuser
      ? h("p", {}, h("a", { href: "#/webhooks", id: "webhooks-link" }, "Webhooks"), " — signed HTTP callbacks for new messages and leads (superusers only)")
      : null);
}
