// What the console's keyboard pages share: the help overlay (? shows or hides it, Esc or its
// button closes it), Esc leaving a field, keys ignored while typing in one, and Enter, which
// each page handles itself (outside a note, where it is a new line). A page passes its keys.

function isTyping(element) {
  if (!element || !element.tagName) return false;
  if (element.isContentEditable || element.tagName === "TEXTAREA" || element.tagName === "SELECT") {
    return true;
  }
  return element.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(element.type);
}

// Whether Enter on this element is the page's (to save): not in a note, where it is a new line,
// nor on a link, button or summary, which Enter already works.
export function enterSaves(target) {
  return target.tagName !== "TEXTAREA" && !target.closest?.("a, button, summary");
}

export function listenForKeys({ help, keys, enter }) {
  function toggleHelp(show = help.hidden) {
    help.hidden = !show;
    if (show) help.querySelector("button")?.focus();
  }
  const actions = { ...keys, "?": () => toggleHelp() };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    const target = event.target;
    if (event.key === "Escape") {
      if (!help.hidden) toggleHelp(false);
      else if (isTyping(target)) target.blur();
      return;
    }
    if (event.key === "Enter") {
      if (help.hidden) enter(event);
      return;
    }
    if (isTyping(target)) return;
    const action = actions[event.key];
    if (!action || (!help.hidden && event.key !== "?")) return;
    event.preventDefault();
    action();
  });

  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-help]")) toggleHelp(false);
  });
}
