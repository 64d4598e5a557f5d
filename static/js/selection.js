// Flagging a span by hand: text selected inside one step's content becomes the step index and
// character offsets in the flag form (#flag-span), which HTMX posts when the button (or f) is
// pressed.
//
// Offsets are offsets into the stored text: a step's content element holds exactly that text
// (highlights and diff lines only wrap it), so the text of a Range from the element's start to a
// selection boundary is the stored text up to that point. Python counts code points and
// JavaScript strings count UTF-16 units, so lengths are counted by code point.

const countCodePoints = (text) => {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
};

function contentElement(node) {
  const element = node.nodeType === Node.ELEMENT_NODE ? node : node.parentElement;
  return element?.closest(".step-content") ?? null;
}

function offsetWithin(element, node, offset) {
  const range = document.createRange();
  range.selectNodeContents(element);
  range.setEnd(node, offset);
  return countCodePoints(range.toString());
}

// The selection as [content element, start, end], clamped to one step's content when it runs
// past either end of it (a triple click does); null when it spans two steps or none.
function selectedSpan(range) {
  let element = contentElement(range.startContainer);
  const endElement = contentElement(range.endContainer);
  if (element && endElement && element !== endElement) return null;
  element = element || endElement;
  if (!element) return null;
  const whole = document.createRange();
  whole.selectNodeContents(element);
  const length = countCodePoints(whole.toString());
  const start = contentElement(range.startContainer)
    ? offsetWithin(element, range.startContainer, range.startOffset)
    : 0;
  const end = contentElement(range.endContainer)
    ? offsetWithin(element, range.endContainer, range.endOffset)
    : length;
  return start < end ? [element, start, end] : null;
}

function describe(element, text) {
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return `Step #${element.dataset.step}: “${shown}”`;
}

document.addEventListener("selectionchange", () => {
  const form = document.getElementById("flag-span");
  const selection = document.getSelection();
  if (!form || !selection || selection.rangeCount === 0 || selection.isCollapsed) return;
  const range = selection.getRangeAt(0);
  const span = selectedSpan(range);
  if (!span) return;
  const [element, start, end] = span;
  form.elements.step.value = element.dataset.step;
  form.elements.start.value = String(start);
  form.elements.end.value = String(end);
  const preview = form.querySelector("[data-selection-preview]");
  if (preview) preview.textContent = describe(element, range.toString());
  const button = document.getElementById("flag-span-button");
  if (button) button.disabled = false;
});

// Once the flag is stored, the selection has done its job.
document.body.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful && event.detail.elt?.id === "flag-span") {
    document.getSelection()?.removeAllRanges();
  }
});
