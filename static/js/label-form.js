// The label form's rules in the browser. A benign verdict has no category or severity: the
// server drops them whatever is sent, and here the two fields empty and lock so the labeler sees
// what will be stored (choosing another verdict again gives back what they held). And edits not
// yet saved are not lost without a word: the form carries data-dirty while it holds them, which
// keys.js asks about before it opens another item, and leaving the page asks first.

const FORM = "#label-form";
const BENIGN_ONLY = "Category and severity describe a misalignment: a benign verdict has neither.";

function applyVerdict(form) {
  const benign = form.querySelector('input[name="verdict"][value="benign"]')?.checked ?? false;
  for (const name of ["category", "severity"]) {
    const field = form.querySelector(`select[name="${name}"]`);
    if (!field || field.disabled === benign) continue;
    if (benign) {
      field.dataset.kept = field.value;
      field.value = "";
      field.title = BENIGN_ONLY;
    } else {
      field.value = field.dataset.kept ?? "";
      delete field.dataset.kept;
      field.removeAttribute("title");
    }
    field.disabled = benign;
  }
}

function applyAll() {
  for (const form of document.querySelectorAll(FORM)) applyVerdict(form);
}

function edited(event) {
  const form = event.target.closest?.(FORM);
  if (!form) return;
  form.dataset.dirty = "";
  if (event.target.name === "verdict") applyVerdict(form);
}
document.addEventListener("input", edited);
document.addEventListener("change", edited);

// A label being sent is no longer unsaved: saving and going on to the next item must not ask.
// When the send fails without an answer the form stays as it was, so it is unsaved again; a
// rejected label comes back as a form marked dirty by the server.
document.addEventListener("submit", (event) => {
  if (event.target.matches(FORM)) delete event.target.dataset.dirty;
});
document.addEventListener("htmx:afterRequest", (event) => {
  const form = event.detail.elt;
  const status = event.detail.xhr?.status ?? 0;
  if (form.matches?.(FORM) && form.isConnected && (status === 0 || status >= 500)) {
    form.dataset.dirty = "";
  }
});

window.addEventListener("beforeunload", (event) => {
  if (document.querySelector(`${FORM}[data-dirty]`)) event.preventDefault();
});

document.addEventListener("htmx:afterSettle", applyAll);
applyAll();
