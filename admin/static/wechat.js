// The chat simulator (admin/wechat.py): htmx appends each exchange to the conversation. A refusal (400) answers
// with a note for the conversation too, so it is shown instead of dropped; after a message the text box empties and
// the newest line scrolls into view. A file, not inline script: the console's Content-Security-Policy forbids it.
document.addEventListener("htmx:beforeSwap", function (event) {
  var status = event.detail.xhr.status;
  if (status >= 400 && status < 500 && event.detail.target && event.detail.target.id === "chat-log") {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
document.addEventListener("htmx:afterSwap", function (event) {
  if (!event.detail.target || event.detail.target.id !== "chat-log") {
    return;
  }
  var none = document.getElementById("chat-none");
  if (none) {
    none.remove();
  }
  var form = event.detail.requestConfig && event.detail.requestConfig.elt;
  if (form && form.id === "chat-form" && event.detail.xhr.status === 200) {
    form.reset();
    form.querySelector("input[name=content]").focus();
  }
  var last = event.detail.target.lastElementChild;
  if (last) {
    last.scrollIntoView({ block: "nearest" });
  }
});
