// Keyboard for adjudication, the keys of the viewer where they mean the same: 1/2/3 verdict,
// c/s/e category, severity and note, Enter record the decision (and on to the next item), n the
// next item without deciding, o the item in its trace, ? help, Esc leave a field or close help.
// Keys are ignored while typing in a field, except Esc (and Enter outside the note).

const form = document.querySelector(".decision-form");
const help = document.getElementById("key-help");
if (form && help) init(form, help);

function init(form, help) {
  const typing = (element) =>
    element.isContentEditable ||
    element.matches?.("textarea, select, input:not([type=radio]):not([type=checkbox])");

  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
    if (show) help.querySelector("button")?.focus();
  }

  function setVerdict(value) {
    const radio = form.querySelector(`input[name="verdict"][value="${value}"]`);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  }

  const follow = (selector) => document.querySelector(selector)?.click();

  const keys = {
    1: () => setVerdict("misaligned"),
    2: () => setVerdict("benign"),
    3: () => setVerdict("unsure"),
    c: () => form.querySelector('[name="category"]')?.focus(),
    s: () => form.querySelector('[name="severity"]')?.focus(),
    e: () => form.querySelector('[name="note"]')?.focus(),
    n: () => follow("[data-next-item]"),
    o: () => follow("[data-open-trace]"),
    "?": () => toggleHelp(),
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (event.key === "Escape") {
      if (!help.hidden) toggleHelp(false);
      else if (typing(target)) target.blur();
      return;
    }
    if (event.key === "Enter") {
      if (!help.hidden || target.tagName === "TEXTAREA" || target.closest?.("a, button, summary")) {
        return;
      }
      event.preventDefault();
      form.requestSubmit(form.querySelector("[data-primary]"));
      return;
    }
    if (typing(target)) return;
    const action = keys[event.key];
    if (!action || (!help.hidden && event.key !== "?")) return;
    event.preventDefault();
    action();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-help]")) toggleHelp(false);
  });
}
