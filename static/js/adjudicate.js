// Keyboard for adjudication, the keys of the viewer where they mean the same: 1/2/3 verdict,
// c/s/e category, severity and note, Enter record the decision (and on to the next item), n the
// next item without deciding, o the item in its trace, ? help, Esc leave a field or close help.

import { enterSaves, listenForKeys } from "./keyboard.js";

const form = document.querySelector(".decision-form");
const help = document.getElementById("key-help");
if (form && help) init(form, help);

function init(form, help) {
  function setVerdict(value) {
    const radio = form.querySelector(`input[name="verdict"][value="${value}"]`);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  }

  const focus = (name) => form.querySelector(`[name="${name}"]`)?.focus();
  const follow = (selector) => document.querySelector(selector)?.click();

  listenForKeys({
    help,
    keys: {
      1: () => setVerdict("misaligned"),
      2: () => setVerdict("benign"),
      3: () => setVerdict("unsure"),
      c: () => focus("category"),
      s: () => focus("severity"),
      e: () => focus("note"),
      n: () => follow("[data-next-item]"),
      o: () => follow("[data-open-trace]"),
    },
    enter: (event) => {
      if (!enterSaves(event.target)) return;
      event.preventDefault();
      form.requestSubmit(form.querySelector("[data-primary]"));
    },
  });
}
