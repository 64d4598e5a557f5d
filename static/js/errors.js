// A request that fails without showing anything (a server error, the database restarting, the
// network gone) says so at the top of the page, so that nobody takes an unsaved label for a
// saved one. The next request that succeeds takes the notice away.
const notice = document.getElementById("request-error");

function show(reason) {
  notice.textContent = `That did not go through: ${reason}. Try again in a moment.`;
  notice.hidden = false;
}

document.body.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  show(status === 503 ? "the database is unavailable" : `the server answered ${status}`);
});

document.body.addEventListener("htmx:sendError", () => show("the server could not be reached"));

document.body.addEventListener("htmx:afterRequest", (event) => {
  if (event.detail.successful) notice.hidden = true;
});
