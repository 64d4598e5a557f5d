// Keyboard for the trace viewer, and the moves the keys make: j/k steps, n/p flags, t the whole
// trace, 1/2/3 verdicts, c/s/e fields, Enter save (and next, from a queue), f flag the selected
// text, x/b skip or go back in a queue, ? help, Esc leave a field. Keys are ignored while typing
// in a field, except Esc. Keys that open another item ask first when the label form holds unsaved
// changes.
//
// Steps arrive in windows. A step that is not in the page yet is fetched before moving to it: from
// the loader that covers it (the scroll sentinel after the steps, or the "earlier steps" button
// before them), or else by replacing the steps with the window that holds it. That is also how a
// #step-N link beyond the first window works, as does the server's ?from=N.

import { enterSaves, listenForKeys } from "./keyboard.js";

const viewer = document.getElementById("viewer");
if (viewer) init(viewer);

function init(viewer) {
  const htmx = window.htmx;
  const stepsUrl = viewer.dataset.stepsUrl;
  const labelsUrl = viewer.dataset.labelsUrl;
  const queue = viewer.dataset.queue;
  const windowSize = Number(viewer.dataset.window) || 50;
  const stepCount = Number(viewer.dataset.stepCount) || 0;
  const stepsBox = document.getElementById("steps");
  const help = document.getElementById("key-help");
  let currentStep = null;

  const stepElement = (n) => document.getElementById(`step-${n}`);
  const panel = () => document.getElementById("label-panel");
  const railItems = () => [...document.querySelectorAll("#flag-rail .rail-item")];
  const flagItems = () => railItems().filter((item) => item.dataset.segment);

  function openFolds(element) {
    for (let node = element; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
  }

  function remember(n) {
    currentStep = n;
    history.replaceState(history.state, "", `#step-${n}`);
  }

  // Resolves with what find() returns once it returns something, or null after a while.
  function waitFor(find, ms = 8000) {
    const until = Date.now() + ms;
    return new Promise((resolve) => {
      (function poll() {
        const found = find();
        if (found || Date.now() > until) resolve(found || null);
        else setTimeout(poll, 40);
      })();
    });
  }

  async function ensureStep(n) {
    if (stepElement(n)) return stepElement(n);
    if (!(n >= 0 && n < stepCount)) return null;
    const loader = [...stepsBox.querySelectorAll(".steps-loader")].find(
      (l) => n >= Number(l.dataset.start) && n < Number(l.dataset.end),
    );
    if (loader) {
      await htmx.ajax("GET", loader.dataset.url, { source: loader, target: loader, swap: "outerHTML" });
    } else {
      const start = n - (n % windowSize);
      await htmx.ajax("GET", `${stepsUrl}?start=${start}&lead=1`, {
        source: stepsBox,
        target: stepsBox,
        swap: "innerHTML",
      });
    }
    // htmx resolves at once when the loader already has a request in flight (a scroll got
    // there first), so wait for the step itself.
    return stepElement(n) || waitFor(() => stepElement(n));
  }

  // Moves run one after another, each from where the previous one was going, so keys pressed
  // while a window loads are not lost.
  let moves = Promise.resolve();
  let heading = null;
  function queueMove(move) {
    moves = moves.then(move).catch((error) => console.warn(error));
    return moves;
  }

  async function showStep(n) {
    const step = await ensureStep(n);
    if (!step) return null;
    openFolds(step);
    step.focus({ preventScroll: true });
    step.scrollIntoView({ block: "start" });
    remember(n);
    return step;
  }

  // The step being read: the one last moved to or focused, else the first one in view.
  function readingStep() {
    if (currentStep !== null && stepElement(currentStep)) return currentStep;
    const visible = [...stepsBox.querySelectorAll(".step")].find(
      (step) => step.getBoundingClientRect().bottom > 0,
    );
    return visible ? Number(visible.dataset.index) : null;
  }

  function moveStep(delta) {
    const reading = heading !== null || (currentStep !== null && stepElement(currentStep));
    const from = heading ?? readingStep();
    if (from === null) return;
    // With no step chosen yet, the first key press chooses the one in view.
    const to = reading ? Math.min(Math.max(from + delta, 0), stepCount - 1) : from;
    if (reading && to === from) return;
    heading = to;
    queueMove(async () => {
      await showStep(to);
      if (heading === to) heading = null;
    });
  }

  function loadPanel(segment) {
    const params = new URLSearchParams();
    if (segment) params.set("segment", segment);
    if (queue) params.set("queue", queue);
    return htmx.ajax("GET", `${labelsUrl}?${params}`, {
      source: panel(),
      target: panel(),
      swap: "innerHTML",
    });
  }

  function markCurrent(segment) {
    for (const item of railItems()) {
      const current = item.dataset.segment === segment;
      item.classList.toggle("current", current);
      if (current) item.scrollIntoView({ block: "nearest" });
    }
    for (const mark of document.querySelectorAll("mark.flag.current")) mark.classList.remove("current");
    if (segment) {
      for (const mark of document.querySelectorAll(`mark[data-flags~="${segment}"]`)) {
        mark.classList.add("current");
      }
    }
  }

  async function revealFlag(segment, stepIndex) {
    const step = await ensureStep(stepIndex);
    if (!step) return;
    markCurrent(segment);
    const mark = step.querySelector(`mark[data-flags~="${segment}"]`);
    const target = mark || step;
    openFolds(target);
    target.focus({ preventScroll: true });
    target.scrollIntoView({ block: "center" });
    remember(stepIndex);
  }

  async function openItem(segment, stepIndex) {
    markCurrent(segment);
    const loading = loadPanel(segment);
    if (segment) await revealFlag(segment, stepIndex);
    await loading;
  }

  // Unsaved edits of the label form (label-form.js marks them) are lost when another item's
  // panel replaces it: ask first. Leaving the page asks through beforeunload.
  function mayLeaveItem() {
    const form = panel().querySelector("#label-form[data-dirty]");
    if (!form) return true;
    if (!window.confirm("This label has unsaved changes. Discard them?")) return false;
    delete form.dataset.dirty;
    return true;
  }

  // From the current flag when the reader is still at it; once they have moved on with j/k (or
  // scrolled and focused another step), from where they are: the first flag at or after that
  // step for n, the last one at or before it for p. Past the last flag n stays put, as p does
  // before the first.
  function moveFlag(delta) {
    const items = flagItems();
    if (!items.length) return;
    const here = heading ?? readingStep();
    let i = items.findIndex((item) => item.classList.contains("current"));
    if (i >= 0 && (here === null || Number(items[i].dataset.step) === here)) {
      i += delta;
    } else if (delta > 0) {
      i = items.findIndex((item, j) => j !== i && Number(item.dataset.step) >= (here ?? 0));
    } else {
      i = items.findLastIndex((item, j) => j !== i && Number(item.dataset.step) <= (here ?? 0));
    }
    if (i < 0 || i >= items.length || !mayLeaveItem()) return;
    markCurrent(items[i].dataset.segment);
    queueMove(() => openItem(items[i].dataset.segment, Number(items[i].dataset.step)));
  }

  function setVerdict(value) {
    const radio = panel().querySelector(`input[name="verdict"][value="${value}"]`);
    if (!radio) return;
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
  }

  function focusField(name) {
    const field = panel().querySelector(`#label-form [name="${name}"]`);
    if (field) field.focus();
  }

  function save(event) {
    const target = event.target;
    if (!enterSaves(target)) return;
    const form = target.closest?.("form") || panel().querySelector("#label-form");
    const button = form?.querySelector("[data-primary]:not([disabled])");
    if (!button) return;
    event.preventDefault();
    button.click();
  }

  const keys = {
    j: () => moveStep(1),
    k: () => moveStep(-1),
    n: () => moveFlag(1),
    p: () => moveFlag(-1),
    t: () => mayLeaveItem() && openItem("", null),
    1: () => setVerdict("misaligned"),
    2: () => setVerdict("benign"),
    3: () => setVerdict("unsure"),
    c: () => focusField("category"),
    s: () => focusField("severity"),
    e: () => focusField("note"),
    f: () => {
      const button = document.getElementById("flag-span-button");
      if (button && !button.disabled && mayLeaveItem()) button.click();
    },
    x: () => document.querySelector("[data-queue-skip]")?.click(),
    b: () => document.querySelector("[data-queue-back]")?.click(),
  };
  listenForKeys({ help, keys, enter: save });

  document.addEventListener("click", (event) => {
    const link = event.target.closest("#flag-rail .rail-item, .flag-link");
    if (link) {
      event.preventDefault();
      if (mayLeaveItem()) openItem(link.dataset.segment, Number(link.dataset.step));
      return;
    }
    // A click on a highlight (not the end of a drag that selected text) opens its flag.
    const mark = event.target.closest("mark.flag");
    if (mark && document.getSelection().isCollapsed && mayLeaveItem()) {
      const segment = mark.dataset.flags.split(" ")[0];
      const step = mark.closest(".step");
      openItem(segment, Number(step.dataset.index));
    }
  });

  stepsBox.addEventListener("focusin", (event) => {
    const step = event.target.closest(".step");
    if (step) currentStep = Number(step.dataset.index);
  });

  // A highlight's details are its flags' entries under the step, picked out while it is hovered
  // or focused, rather than a tooltip over the text being read.
  for (const type of ["mouseover", "mouseout", "focusin", "focusout"]) {
    stepsBox.addEventListener(type, (event) => {
      const mark = event.target.closest?.("mark.flag");
      if (!mark) return;
      const entering = type === "mouseover" || type === "focusin";
      const still = type === "mouseout" ? mark === document.activeElement : mark.matches(":hover");
      const on = entering || still;
      for (const segment of mark.dataset.flags.split(" ")) {
        document.getElementById(`tip-${segment}`)?.classList.toggle("tip-current", on);
      }
    });
  }

  // Rejected forms come back as 400/422 with their errors: show them where the form was.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const status = event.detail.xhr.status;
    if ((status === 400 || status === 422) && viewer.contains(event.detail.requestConfig?.elt)) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    } else if (status === 401) {
      window.location.reload();
    }
  });

  function followHash() {
    const match = /^#step-(\d+)$/.exec(window.location.hash);
    if (match) showStep(Number(match[1]));
  }
  window.addEventListener("hashchange", followHash);

  // On arrival: a flag given by the URL (from a queue) is brought into view; else a #step-N.
  // After the load event, since the browser focuses a #step-N target once the page has loaded.
  function arrive() {
    const focused = document.querySelector(
      "#flag-rail .rail-item.current[data-segment]:not([data-segment=''])",
    );
    if (focused) revealFlag(focused.dataset.segment, Number(focused.dataset.step));
    else followHash();
  }
  if (document.readyState === "complete") setTimeout(arrive);
  else window.addEventListener("load", () => setTimeout(arrive), { once: true });
}
