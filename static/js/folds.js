// One control for every folded part of the steps (tool results, arguments as sent, arguments and
// metadata): open them all to read a run's output straight through, or close them all to skim
// its reasoning. Windows of steps loaded later follow the choice.

const button = document.getElementById("fold-all");
const steps = document.getElementById("steps");
if (button && steps) {
  const FOLDS = "details.step-fold, details.step-extra";
  let expanded = false;

  function apply(root) {
    for (const fold of root.querySelectorAll(FOLDS)) {
      // A fold holding a flag stays open: what was flagged is never hidden.
      fold.open = expanded || Boolean(fold.querySelector("mark.flag"));
    }
  }

  button.addEventListener("click", () => {
    expanded = !expanded;
    button.setAttribute("aria-pressed", String(expanded));
    button.textContent = expanded ? "Collapse all tool output" : "Expand all tool output";
    apply(steps);
  });

  document.body.addEventListener("htmx:afterSettle", () => {
    if (expanded) apply(steps);
  });
}
